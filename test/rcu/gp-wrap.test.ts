/*
 * RCU across a wrap of the 32-bit grace-period sequence (rcu/gp.ts header and rcu/seq.ts,
 * "Wrap-around"): a grace period must not end early, and an old polled cookie must stay done.
 *
 * The sequence words are 32-bit and wrap after 2^30 grace periods (hours of a busy domain). The
 * tests that need a wrap store RCU_GP_SEQ directly, while no grace period is in progress: the
 * shared state is then exactly what 2^30 real grace periods would have left behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { RCU_GP_SEQ, ThreadState } from '../../src/domain/layout.js';
import { done, snap } from '../../src/rcu/seq.js';
import { call, until, withTimeout, workerPool } from '../helpers.js';

/** Move this domain's RCU sequence `by` forward, as that many grace periods would (none in progress). */
function advanceRcuSeq(d: Domain, by: number): void {
  const i32 = new Int32Array(d.handle.sab);
  const seq = Atomics.load(i32, RCU_GP_SEQ);
  assert.equal(seq & 1, 0, 'no grace period in progress');
  assert.equal(by & 1, 0);
  Atomics.store(i32, RCU_GP_SEQ, (seq + by) | 0);
}

describe('RCU grace periods across a wrap of the sequence number', () => {
  let d: Domain;
  let pool: ReturnType<typeof workerPool>;
  before(() => {
    d = Domain.create({ name: 'gp-review-wrap', maxThreads: 4 });
    pool = workerPool(d, 'rcu-gp-review-worker');
  });
  after(() => pool.stop());

  it('a thread that was offline while the sequence wrapped is waited for in its next read section', async () => {
    const w = await pool.spawn();
    await d.rcu.synchronize(); // the worker acknowledges one grace period: its ack word is recent
    const f = new Int32Array(new SharedArrayBuffer(8));
    const done = call(w, 'offlineThenRead', { sab: f.buffer, complete: 'wrap-go', ms: 1500 }, 20000);
    done.catch(() => {}); // awaited below; a failed assertion must not leave it unhandled
    const wslot = workerSlot(d);
    await until(() => d.core.threads.state(wslot) === ThreadState.OFFLINE, 5000, 'worker offline');
    // 2^30 grace periods pass while the worker is blocked (offline, so never asked): its ack word
    // is now 2^31 + 4 behind, which a wrap-around comparison reads as ahead.
    advanceRcuSeq(d, 2 ** 31 + 2);
    await withTimeout(d.rcu.synchronize(), 5000, 'a grace period with the worker offline');
    d.completion('wrap-go').complete();
    await until(() => Atomics.load(f, 0) === 1, 5000, 'worker inside its read section');
    await withTimeout(d.rcu.synchronize(), 10000, 'synchronize()');
    assert.equal(Atomics.load(f, 1), 1, 'synchronize() returned while a read section that began before it was still running');
    await done;
  });

  it('pollState(): a cookie older than half the sequence space still reads as done', async () => {
    const cookie = d.rcu.getState();
    await until(() => d.rcu.pollState(cookie), 5000, 'cookie done');
    advanceRcuSeq(d, 2 ** 31 + 2); // 2^30 + 1 grace periods later
    assert.equal(d.rcu.pollState(cookie), true);
    const fresh = d.rcu.getState();
    await until(() => d.rcu.pollState(fresh), 5000, 'fresh cookie done');
  });

  it('seq.ts done(): a snapshot is not done before its grace period ends, across the wrap too', () => {
    for (const seq of [0, 1, 2, 0x7ffffffd, 0x7ffffffe, 0x7fffffff, -0x80000000, -0x7fffffff, -2, -1]) {
      const s = snap(seq);
      assert.equal(done(seq, s), false, `seq ${seq}`);
      assert.equal(done((s - 1) | 0, s), false, `seq ${seq}: one short`);
      assert.equal(done(s, s), true, `seq ${seq}: reached`);
      assert.equal(done((s + 2 ** 31 - 2) | 0, s), true, `seq ${seq}: 2^30 - 1 grace periods later`);
      assert.equal(done((s + 2 ** 31 + 2) | 0, s), true, `seq ${seq}: 2^30 + 1 grace periods later`);
    }
  });
});

/** The slot of the (only) worker of `d`: the ONLINE/OFFLINE slot that is not this thread's. */
function workerSlot(d: Domain): number {
  for (let t = 0; t < d.maxThreads; t++) {
    if (t !== d.threadIndex && d.core.threads.isAlive(t)) return t;
  }
  throw new Error('no worker slot');
}

