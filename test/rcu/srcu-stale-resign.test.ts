/*
 * A driver that took an SRCU GP over and finds it ended by another (stale) must clear
 * SRCU_DRIVER if it still names it (rcu/gp.ts reach, "resigns"): a live, idle thread named there
 * keeps every waiter from taking over the next GP should its claim's winner die before recording
 * itself. Srcu's reach() left early, before resigning, whenever its own snapshot was done on
 * such a wake-up (step 2's abandon, step 3's timed-out slice), which is the usual case for a
 * taker-over whose snapshot predates the GP. The wait program is stepped by hand here so the
 * stale wake-up is exact: GP_SEQ is moved past gp as the original driver's finish() would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { SRCU_DRIVER, SRCU_GP_SEQ, SRCU_UNLOCK_EVENTS } from '../../src/domain/layout.js';

describe('Srcu: a stale driver whose snapshot is done resigns', () => {
  it('step 3, timed-out wake-up after another driver ended gp: SRCU_DRIVER no longer names us', () => {
    const d = Domain.create({ name: 'srcu-stale-resign', maxThreads: 4 });
    const s = d.srcu('s');
    let idx = -1;
    try {
      const i32 = (d as unknown as { core: { i32: Int32Array } }).core.i32;
      const h = (s as unknown as { h: number }).h;
      const me = d.threadIndex + 1;
      idx = s.readLock(); // a reader of the index gp drains: step 3 must wait
      // GP 1 in progress, claimed by slot 3 (FREE: cannot run), so our program takes it over.
      Atomics.store(i32, h + SRCU_GP_SEQ, 1);
      Atomics.store(i32, h + SRCU_DRIVER, 3 + 1);
      const prog = (s as unknown as { reach(s: number, op: string, t?: number): Generator<{ index: number }, void, string> }).reach(2, 'test', 1000);
      let step = prog.next(undefined as never);
      for (let i = 0; !step.done && step.value.index !== h + SRCU_UNLOCK_EVENTS && i < 50; i++) step = prog.next('woken');
      assert.equal(step.done, false);
      assert.equal(step.value!.index, h + SRCU_UNLOCK_EVENTS, 'waits in step 3');
      assert.equal(Atomics.load(i32, h + SRCU_DRIVER), me, 'took gp over');
      Atomics.store(i32, h + SRCU_GP_SEQ, 2); // the original driver ended gp (its finish clears only its own id)
      step = prog.next('timed-out');
      assert.equal(step.done, true, 'our snapshot (2) is done');
      assert.notEqual(Atomics.load(i32, h + SRCU_DRIVER), me, 'stale, idle, and still named as the driver');
    } finally {
      if (idx >= 0) s.readUnlock(idx);
      d.detach();
    }
  });
});
