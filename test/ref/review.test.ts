/*
 * PercpuRef behaviours from the second review round, each pinned by a test that failed before its fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, PercpuRef, QuiesceError, lockdep } from '../../src/index.js';
import { call, nextMessage, until, withTimeout } from '../helpers.js';

const worker = new URL('./review-worker.js', import.meta.url);

async function spawnWorker(d: Domain): Promise<Worker> {
  const w = d.spawn(worker);
  await nextMessage(w, (x) => x.event === 'ready');
  return w;
}

/** Block this thread until ctl[i] != 0 (bounded). */
function waitFlag(ctl: Int32Array, i: number, ms: number): void {
  const end = performance.now() + ms;
  while (Atomics.load(ctl, i) === 0) {
    if (performance.now() > end) throw new Error(`flag ${i} not set within ${ms} ms`);
    Atomics.wait(ctl, i, 0, 50);
  }
}

describe('PercpuRef (review round 2)', () => {
  it('killAll: a ref another thread kills between validation and marking fails alone; the refs marked before it are still folded and released', async () => {
    const d = Domain.create({ name: 'review-killall-race', maxThreads: 4 });
    const w = await spawnWorker(d);
    try {
      const refs = [d.percpuRef('a'), d.percpuRef('victim'), d.percpuRef('b')];
      const ctl = new Int32Array(new SharedArrayBuffer(12));
      const killer = call<{ killed: string }>(w, 'killOnFlag', { victim: 'victim', ctl: ctl.buffer });
      await until(() => Atomics.load(ctl, 0) === 1, 10_000, 'worker ready');
      // Force the interleaving: killAll has validated every ref (all live) and marked 'a'; the
      // worker kills 'victim' just before killAll marks it.
      const victim = refs[1]! as unknown as { batchMarkDead(kb: unknown): boolean };
      const orig = victim.batchMarkDead.bind(victim);
      victim.batchMarkDead = (kb) => {
        Atomics.store(ctl, 1, 1);
        Atomics.notify(ctl, 1);
        waitFlag(ctl, 2, 10_000);
        return orig(kb);
      };
      let res = 'ok';
      try {
        await withTimeout(PercpuRef.killAll(refs, { timeoutMs: 5000 }), 8000, 'killAll');
      } catch (e) {
        res = e instanceof QuiesceError ? `${e.code}: ${e.message}` : String(e);
      }
      assert.equal((await killer).killed, 'ok');
      assert.match(res, /^ERR_ALREADY_DYING: PercpuRef 'victim'/, 'killAll reports the ref another thread killed first');
      for (const r of refs) await withTimeout(r.drain({ timeoutMs: 3000 }), 6000, `drain of ${r.name}`);
      for (const r of refs) assert.equal(r.isZero(), true, `${r.name} released`);
      assert.deepEqual(refs.map((r) => r.inspect().mode), ['atomic', 'atomic', 'atomic']);
    } finally {
      await w.terminate();
    }
  });

  it('lockdep: killAll under L waits for every ref it drains, not only the first, so a hold() on a later ref that takes L is a cycle', async () => {
    lockdep.enable({ action: 'collect' });
    try {
      const d = Domain.create({ name: 'review-killall-lockdep', maxThreads: 2 });
      const L = d.mutex('L_killall');
      const first = d.percpuRef('killall_first');
      const later = d.percpuRef('killall_later');
      {
        using h = later.hold();
        L.lockSync().unlock(); // a holder of the later ref takes L
        void h;
      }
      const g = L.lockSync();
      await PercpuRef.killAll([first, later], { timeoutMs: 2000 }); // teardown waits for both refs' holders under L
      g.unlock();
      await until(() => lockdep.reports().some((r) => r.kind === 'circular'), 3000, 'a circular report');
      const r = lockdep.reports().find((x) => x.kind === 'circular')!;
      assert.deepEqual([...r.classes].sort(), ['L_killall', 'killall_later']);
    } finally {
      lockdep.disable();
      lockdep.reset();
    }
  });

  it('a drain aborted while the switch to atomic is still in flight names the holders, as one aborted later does', async () => {
    const d = Domain.create({ name: 'review-abort-switching', maxThreads: 4 });
    const w = await spawnWorker(d);
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    try {
      const ref = d.percpuRef('r');
      ref.get(); // this thread holds 1
      const spun = call(w, 'spin', { ctl: ctl.buffer, ms: 8000 }, 15_000); // holds the grace period up
      await until(() => Atomics.load(ctl, 0) === 1, 5000, 'worker spinning');
      ref.kill(); // the switch cannot fold until the worker turns
      const ac = new AbortController();
      const p = ref.drain({ signal: ac.signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
      setImmediate(() => ac.abort());
      const err = (await withTimeout(p, 5000, 'aborted drain')) as QuiesceError | undefined;
      assert.equal(ref.inspect().mode, 'switching', 'the abort landed while the switch was in flight');
      Atomics.store(ctl, 1, 1);
      await spun;
      assert.ok(err instanceof QuiesceError && err.code === 'ERR_ABORTED', String(err));
      assert.match(err.message, new RegExp(`thread ${d.threadIndex} .*holds 1`));
      assert.deepEqual(
        (err.details as { holders: { thread: number; held: number }[] }).holders.map((h) => [h.thread, h.held]),
        [[d.threadIndex, 1]],
      );
      ref.put();
      await ref.drain({ timeoutMs: 5000 }); // the ref stays usable
    } finally {
      Atomics.store(ctl, 1, 1);
      await w.terminate();
    }
  });

  it('an excess put taking the last reference while a kill\'s or killAll\'s switch ends: ERR_REFCOUNT_UNDERFLOW, never an unhandled rejection from the switch driver nor a count below zero', async () => {
    const d = Domain.create({ name: 'review-excess-end', maxThreads: 4 });
    const w = await spawnWorker(d);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const emitWarning = process.emitWarning;
    try {
      for (const useKillAll of [false, true]) {
        const name = useKillAll ? 'killAll' : 'kill';
        const ref = d.percpuRef(name);
        const ctl = new Int32Array(new SharedArrayBuffer(12));
        const puts = call<{ late: string }>(w, 'excessPuts', { name, ctl: ctl.buffer, during: 10 }, 15_000);
        await until(() => Atomics.load(ctl, 0) === 1, 5000, 'worker waiting');
        // Force the interleaving: the fold found the worker's 10 excess puts, raised the count back
        // to the reference the switch still has to drop, and reports (process.emitWarning); there
        // the worker puts once more, taking that reference.
        let hooked = false;
        process.emitWarning = ((...args: Parameters<typeof process.emitWarning>) => {
          if (!hooked) {
            hooked = true;
            Atomics.store(ctl, 1, 1);
            Atomics.notify(ctl, 1);
            waitFlag(ctl, 2, 10_000);
          }
          return emitWarning.apply(process, args);
        }) as typeof process.emitWarning;
        let res = 'ok';
        try {
          // nobody holds a reference: every put of the worker is excess
          await (useKillAll ? PercpuRef.killAll([ref], { timeoutMs: 3000 }) : ref.killAndDrain({ timeoutMs: 3000 }));
        } catch (e) {
          res = e instanceof QuiesceError ? e.code : String(e);
        }
        process.emitWarning = emitWarning;
        const r = await puts;
        assert.equal((r as { error?: unknown }).error, undefined, JSON.stringify(r));
        assert.ok(hooked, 'the fold reported the imbalance');
        await new Promise((ok) => setTimeout(ok, 20)); // a rejection of the driver would be reported by now
        assert.deepEqual(unhandled.map(String), [], `${name}: unhandled rejection(s) (worker: ${JSON.stringify(r)})`);
        assert.equal(res, 'ERR_REFCOUNT_UNDERFLOW', `${name}: the killing call reports the imbalance (worker: ${JSON.stringify(r)})`);
        assert.equal(ref.inspect().count, 0, `${name}: count`);
        assert.equal(ref.isZero(), true);
        assert.equal(ref.inspect().releases, 1, 'released once');
      }
    } finally {
      process.emitWarning = emitWarning;
      process.off('unhandledRejection', onUnhandled);
      await w.terminate();
    }
  });
});
