/*
 * An instrumented async-mutex Semaphore held by two tasks at once: when one task calls its
 * releaser, the other must still hold the semaphore for lockdep. async-mutex's releaser calls
 * `this.release(weight)` on the instance, which instrument() has replaced with a release() that
 * also drops the oldest tracked acquisition: so the first releaser used to drop the OTHER task's
 * hold too (and that task's own release then read as a 'bad-unlock').
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Semaphore } from 'async-mutex';
import { instrument, lockdep } from '../../src/index.js';

describe('instrument(Semaphore): one holder releasing', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it("a releaser releases only its own acquisition, not another holder's", async () => {
    lockdep.enable({ action: 'collect' });
    const s = instrument(new Semaphore(2), 'amr.S');
    let bHolds!: () => void;
    const bHeld = new Promise<void>((r) => (bHolds = r));
    let openB!: () => void;
    const gateB = new Promise<void>((r) => (openB = r));
    let stillHeld: unknown = 'not checked';
    const taskB = (async () => {
      const [, release] = await s.acquire();
      bHolds();
      await gateB;
      try {
        lockdep.assertHeld(s);
        stillHeld = true;
      } catch (e) {
        stillHeld = e;
      }
      release();
    })();
    await bHeld;
    await (async () => {
      const [, release] = await s.acquire(); // task A: the second permit
      release();
    })();
    openB();
    await taskB;
    assert.equal(stillHeld, true, `task B lost its hold when task A released: ${String(stillHeld)}`);
    assert.equal(s.getValue(), 2);
    assert.deepEqual(lockdep.reports(), []);
  });

  it('runExclusive on a semaphore shared by two tasks reports nothing', async () => {
    lockdep.enable({ action: 'collect' });
    const s = instrument(new Semaphore(2), 'amr.S2');
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    await Promise.all([s.runExclusive(() => sleep(20)), s.runExclusive(() => sleep(1))]);
    assert.equal(s.getValue(), 2);
    assert.deepEqual(lockdep.reports(), []);
  });
});
