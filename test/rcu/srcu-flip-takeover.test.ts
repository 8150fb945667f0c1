/*
 * SRCU: a grace period whose first driver died between its claim (the even -> odd compareExchange
 * of the sequence) and its index flip, taken over by a waiter (rcu/srcu.ts header). The waiter's
 * snapshot predates the claim, so the grace period it takes over must wait for the reader that
 * began before it; without the flip it drained the index no reader was using and ended at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { SRCU_GP_SEQ } from '../../src/domain/layout.js';
import { call, settlesWithin, withTimeout, workerPool } from '../helpers.js';

describe('SRCU: a grace period whose first driver died before flipping the index', () => {
  let d: Domain;
  let pool: ReturnType<typeof workerPool>;
  before(() => {
    d = Domain.create({ name: 'gp-review-flip', maxThreads: 4 });
    pool = workerPool(d, 'rcu-gp-review-worker');
  });
  after(() => pool.stop());

  it('synchronize() that took it over still waits for a reader that began before it', async () => {
    const s = d.srcu('flip');
    const w = await pool.spawn();
    const f = new Int32Array(new SharedArrayBuffer(8));
    await call(w, 'pauseAtFlip', { sab: f.buffer, srcu: 'flip' });
    const idx = s.readLock(); // a reader that begins before synchronize()
    // synchronize() snapshots the idle sequence; then, right before its claim's compareExchange,
    // the worker wins the claim and stops dead before flipping the index.
    const i32 = (s as unknown as { i32: Int32Array }).i32;
    const seqWord = (s as unknown as { h: number }).h + SRCU_GP_SEQ;
    const cas = Atomics.compareExchange;
    (Atomics as { compareExchange: unknown }).compareExchange = (ta: Int32Array, index: number, e: number, r: number) => {
      if (ta === i32 && index === seqWord) {
        (Atomics as { compareExchange: unknown }).compareExchange = cas;
        Atomics.store(f, 0, 1);
        Atomics.notify(f, 0);
        Atomics.wait(f, 1, 0, 5000); // the worker has claimed the grace period and stopped
      }
      return cas(ta, index, e, r);
    };
    let p: Promise<void>;
    try {
      p = s.synchronize();
    } finally {
      (Atomics as { compareExchange: unknown }).compareExchange = cas;
    }
    assert.equal(Atomics.load(f, 1), 1, 'the worker stopped before its flip');
    await w.terminate(); // dies between its claim and its flip; this thread takes the GP over
    assert.equal(await settlesWithin(p, 1500), false, 'synchronize() ended while a reader that began before it was inside');
    s.readUnlock(idx);
    await withTimeout(p, 5000, 'synchronize() after the reader left');
  });
});
