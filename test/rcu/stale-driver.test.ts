/*
 * A driver whose grace period was taken over and ended by another thread notices, and its waiter
 * returns (rcu/gp.ts and rcu/srcu.ts headers: a stale driver leaves as soon as the sequence moved
 * past the GP it drives; a timeout is reported only if the snapshot is really not done).
 *
 * The parent drives a GP from an async synchronize({ timeoutMs }) whose request the worker, busy
 * and ONLINE, never acknowledges; then it blocks (OFFLINE) in completion.waitSync(). The worker
 * takes the GP over, ends it (and one more), completes the completion and stays busy (still
 * ONLINE, still not acknowledging) for longer than the parent's timeout. The parent's original
 * driver, stale when the parent wakes, must not wait for an ack the worker no longer owes: its
 * synchronize() resolves at once. (Before the fix it waited out its deadline and rejected with
 * ERR_TIMEOUT; without a timeout it would have waited for the busy worker.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, spawnReady, until, withTimeout } from '../helpers.js';

const TIMEOUT_MS = 1000; // the parent's synchronize() deadline
const BUSY_MS = 1800; // the worker stays busy this long after ending the GP: past that deadline

describe('a stale grace-period driver returns once its grace period has ended', () => {
  let d: Domain;
  let w: Worker;
  before(async () => {
    d = Domain.create({ name: 'stale-driver', maxThreads: 4 });
    w = await spawnReady(d, 'takeover-worker');
  });
  after(async () => {
    await w.terminate();
  });

  for (const flavour of ['rcu', 'srcu'] as const) {
    it(`${flavour}: synchronize() on a taken-over driver resolves, no ERR_TIMEOUT`, async () => {
      const name = `stale-${flavour}`;
      const c = d.completion(name);
      const s = flavour === 'srcu' ? d.srcu('stale-driver') : null;
      const f = new Int32Array(new SharedArrayBuffer(16));
      const reply = call<{ res: string; before: number; after: number }>(
        w,
        'takeOver',
        { sab: f.buffer, parentSlot: d.threadIndex, complete: name, busyMs: BUSY_MS, ...(s ? { srcu: 'stale-driver' } : {}) },
        15000,
      );
      await until(() => Atomics.load(f, 0) === 1, 5000, 'worker busy');
      // The worker is busy: the grace period this thread now starts driving (rcu.synchronize()
      // claims it one turn later; srcu.synchronize() in its step 2) waits for the worker's ack,
      // which never comes.
      const t0 = performance.now();
      const p = (s ? s.synchronize({ timeoutMs: TIMEOUT_MS }) : d.rcu.synchronize({ timeoutMs: TIMEOUT_MS })).then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? String(e),
      );
      let settledAt = 0;
      void p.then(() => (settledAt = performance.now()));
      await until(() => (d.rcu.gp.seq() & 1) === 1, 2000, 'this thread drives an RCU grace period');
      Atomics.store(f, 1, 1);
      Atomics.notify(f, 1);
      c.waitSync({ timeoutMs: 5000 }); // OFFLINE: the worker takes the GP over and ends it
      const wokeAt = performance.now();
      const res = await withTimeout(p, 5000, `${flavour} synchronize`);
      const r = await withTimeout(reply, 10000, 'worker reply');
      assert.equal(r.res, 'ok', `worker synchronizeSync(): ${r.res}`);
      assert.equal(Atomics.load(f, 2), 1, 'the worker saw this thread OFFLINE while a GP ran (the takeover case)');
      assert.equal(
        res,
        'ok',
        `synchronize() failed although its grace period had ended (RCU GP_SEQ ${r.before} -> ${r.after} by the worker), ` +
          `${Math.round(settledAt - t0)} ms after it began, ${Math.round(settledAt - wokeAt)} ms after this thread woke`,
      );
    });
  }
});
