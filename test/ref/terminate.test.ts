/*
 * A worker terminate()d in the middle of a PercpuRef operation: at EVERY call boundary of kill(),
 * switchToAtomic(), PercpuRef.killAll() and resurrect() (and of the switch they start, up to its
 * end), the ref must stay usable: another thread can resurrect it (if it is still dying after a
 * resurrect), kill it (if it is not dying) and drain it to its one release, with the exact count. (terminate() stops a thread at a function entry or a loop
 * back-edge: test/fixtures/ref-terminate-worker.ts pauses at the n-th call and is terminated there.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { fixture, nextMessage, sleep, until } from '../helpers.js';

describe('PercpuRef: a worker terminated at any call inside an operation', () => {
  for (const op of ['kill', 'switchToAtomic', 'killAll', 'resurrect'] as const) {
    it(`${op}(): the ref is still killed, drained and released once, with the exact count`, async () => {
      const d = Domain.create({ name: `terminate-${op}`, maxThreads: 100 }); // each terminated worker keeps its (dead) slot
      const broken: string[] = [];
      let finished = false;
      for (let at = 1; at < 80 && !finished; at++) {
        const w = d.spawn(fixture('ref-terminate-worker'));
        const { slot } = await nextMessage<{ slot: number }>(w, (x) => x.event === 'ready');
        const name = `${op}.${at}`;
        const opts = op === 'resurrect' ? { allowReinit: true } : {};
        const ref = d.percpuRef(name, opts);
        ref.get(); // this thread holds one reference throughout: the release comes at its put below
        if (op === 'resurrect') await ref.killAndDrain({ timeoutMs: 50 }).catch(() => undefined); // dying, switched: the worker revives it
        const reply = nextMessage<{ paused?: boolean; method?: string; done?: boolean }>(w, (x) => x.id === at, 15_000);
        w.postMessage({ id: at, name, op, at, opts });
        const r = await reply;
        finished = !!r.done;
        await w.terminate();
        await until(() => d.describeThread(slot).includes('dead'), 5000, `slot ${slot} dead`);
        let res = 'ok';
        try {
          if (op === 'resurrect' && ref.isDying()) ref.resurrect();
          if (!ref.isDying()) ref.kill();
          ref.put();
          await ref.drain({ timeoutMs: 1000 });
          const st = ref.inspect();
          if (st.count !== 0 || st.releases !== 1 || st.mode !== 'atomic') res = `count ${st.count}, releases ${st.releases}, mode ${st.mode}`;
        } catch (e) {
          res = String(e);
        }
        if (res !== 'ok') broken.push(`terminated at call ${at} (${r.paused ? r.method : 'none: completed'}): ${res}`);
      }
      assert.ok(finished, 'the operation completed within the calls tried');
      assert.deepEqual(broken, []);
      await sleep(1);
    });
  }
});
