/*
 * RCU_GP_DRIVER says who drives the grace period in progress; a waiter takes the GP over only if
 * that thread cannot run (rcu/gp.ts claim()). A driver that took a GP over and then found it
 * ended by the original driver (stale) could leave without clearing the word, so it went on
 * naming a live, idle thread. If the winner of the NEXT GP's claim then died between its claim
 * and recording itself, every waiter saw that live thread as the driver and waited forever (a
 * synchronize() hang). Now a stale driver clears the word if it still holds its own id, so the
 * next GP's word is either its winner or free.
 *
 * Setup: T holds a read section; D drives a GP in a blocking synchronizeSync() (OFFLINE); X's
 * async synchronize({ timeoutMs }) takes the GP over, then X blocks elsewhere past that deadline;
 * T leaves and D ends the GP; X wakes stale and timed out, and its wait ends for good (no later
 * claim of X's own overwrites the word). Then W wins the next GP's claim and is terminated before
 * recording itself; this thread's synchronize() must still complete.
 * (RCU only: Srcu's drivers share the pattern and get the same fix, but with real workers this
 * setup mostly ends with the stale SRCU driver claiming the next GP itself, which overwrites the
 * word, so it would not be evidence; srcu-stale-resign.test.ts steps Srcu's wait program by hand.)
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Domain, QuiesceError } from '../../src/index.js';
import { RCU_GP_DRIVER, ThreadState } from '../../src/domain/layout.js';
import { call, nextMessage, sleep, until, workerPool } from '../helpers.js';

describe('a stale grace-period driver does not stay named as the driver', () => {
  const d = Domain.create({ name: 'stale-driver-record', maxThreads: 8 });
  const pool = workerPool(d, 'rcu-stale-record-worker');
  after(() => pool.stop());
  const core = (d as unknown as { core: { i32: Int32Array; threads: { state(t: number): number } } }).core;
  const driver = (): number => Atomics.load(core.i32, RCU_GP_DRIVER);

  it("the next GP completes although its claim's winner died before recording itself", async () => {
    const [t, dr, x, w] = [await pool.spawn(), await pool.spawn(), await pool.spawn(), await pool.spawn()];
    const slotOf = async (wk: typeof t): Promise<number> => (await call(wk, 'slot')).slot;
    const [dSlot, xSlot] = [await slotOf(dr), await slotOf(x)];
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const holding = nextMessage(t, (m) => m.event === 'holding');
    const tDone = call(t, 'readHold', { flag: flag.buffer }, 20000);
    await holding;
    const dDone = call(dr, 'syncSync', { timeoutMs: 10000 }, 20000);
    await until(() => driver() === dSlot + 1 && core.threads.state(dSlot) === ThreadState.OFFLINE, 5000, 'D drives, blocked');
    const xSettled = nextMessage(x, (m) => m.event === 'settled', 20000);
    // X's synchronize() has a short deadline, which passes while X is blocked.
    await call(x, 'takeOverThenBlock', { completion: 'x-go', timeoutMs: 10000, syncTimeoutMs: 1000 });
    await until(() => driver() === xSlot + 1 && core.threads.state(xSlot) === ThreadState.OFFLINE, 5000, 'X took the GP over and blocked');
    Atomics.store(flag, 0, 1); // T leaves its section: D ends the GP while X cannot run
    assert.deepEqual([(await dDone).error ?? 'ok', (await tDone).error ?? 'ok'], ['ok', 'ok']);
    await sleep(1100); // past X's deadline
    d.completion('x-go').complete();
    assert.equal((await xSettled).error ?? 'ok', 'ERR_TIMEOUT'); // its snapshot needed one more GP
    const named = driver(); // X woke stale: it must not be named as the driver any more
    // The next GP's claim is won by W, which dies before recording itself.
    const dying = nextMessage(w, (m) => m.event === 'dying');
    w.postMessage({ id: -1, cmd: 'claimAndDie' });
    await dying;
    await w.terminate();
    let r = 'ok';
    try {
      await d.rcu.synchronize({ timeoutMs: 1500 });
    } catch (e) {
      r = e instanceof QuiesceError ? e.code : String(e);
    }
    assert.deepEqual({ driverAfterStaleX: named === xSlot + 1 ? 'X (stale)' : 'not X', next: r }, { driverAfterStaleX: 'not X', next: 'ok' });
  });
});
