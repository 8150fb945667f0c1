/*
 * Who ends a PercpuRef switch (percpu-ref.ts header, "switch ownership"):
 *  - a thread that detach()es completes the switches it owns first (a detached thread's async
 *    driver must not race a takeover by another thread: the switch would be ended twice, dropping
 *    its reference twice: a release while a reference is still held, SPEC §4);
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, fixture, nextMessage, sleep } from '../helpers.js';

async function spawnWorker(d: Domain): Promise<Worker> {
  const w = d.spawn(fixture('ref-worker'));
  await nextMessage(w, (x) => x.event === 'ready');
  return w;
}

describe('PercpuRef switch ownership', () => {
  it('kill() then detach() on a worker: the ref is not released while another thread still holds a reference', async () => {
    const d = Domain.create({ name: 'ref-own-detach', maxThreads: 4 });
    const w = await spawnWorker(d);
    const s = await spawnWorker(d);
    try {
      const ref = d.percpuRef('r');
      ref.get(); // this thread holds one reference throughout
      // A worker that runs synchronously (no quiescent state) holds the kill's grace period up, so
      // the killer's switch is still in flight when it detaches.
      await call(s, 'spin', { ms: 600 });
      const r = await call(w, 'killDetach', { name: 'r', keepMs: 1500 });
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      let res = 'ok';
      try {
        await ref.drain({ timeoutMs: 1200 });
      } catch (e) {
        res = (e as { code?: string }).code ?? String(e);
      }
      await sleep(50);
      const st = ref.inspect();
      assert.equal(st.releases, 0, `released although this thread still holds a reference (drain: ${res}; state ${JSON.stringify(st)})`);
      assert.equal(st.mode, 'atomic', 'the detached killer completed its switch');
      assert.equal(st.count, 1, 'the count is exactly the reference this thread holds');
      assert.equal(res, 'ERR_TIMEOUT');
      ref.put();
      assert.equal(ref.inspect().releases, 1);
    } finally {
      await w.terminate();
      await s.terminate();
    }
  });
});
