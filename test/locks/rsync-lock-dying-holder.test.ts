/*
 * A worker that exits marks its own slot DEAD and then runs the death handlers itself
 * (domain.ts markOwnDeathAtExit). PercpuRwSem's handler runs rcu_sync_exit, inside RSYNC_LOCK:
 * the lock names the dying thread, which is DEAD already but still running. No other thread may
 * "steal the lock from a dead holder" then: two threads would be inside the section at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, fixture, nextMessage } from '../helpers.js';

describe('RcuSync lock vs a worker running its own death handler', () => {
  it('no other thread gets RSYNC_LOCK while the dying worker is inside its section', async () => {
    const d = Domain.create({ name: 'rsync-lock-dying-holder', maxThreads: 4 });
    const sem = d.percpuRwsem('x');
    const flag = new Int32Array(new SharedArrayBuffer(16));
    const w = d.spawn(fixture('rsync-slowexit-worker'), { workerData: { flag: flag.buffer } });
    await nextMessage(w, (m) => m.event === 'ready');
    assert.equal((await call(w, 'write', { name: 'x' })).ok, true);
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage({ cmd: 'exit' });
    // Wait until the dying worker is inside RcuSync.exit()'s locked section (in its own handler).
    assert.notEqual(Atomics.wait(flag, 0, 0, 5000), 'timed-out', 'the worker never reached its death handler');
    const before = sem.rs.state();
    sem.rs.poll(); // takes RSYNC_LOCK: rcu_sync_func looks runnable (EXIT, and the old CB_SEQ is done)
    const inside = Atomics.load(flag, 2) === 0; // the worker's section was still open when poll() got the lock
    const after = sem.rs.state();
    await exited;
    assert.equal(
      inside && before !== after,
      false,
      `this thread ran rcu_sync_func (state ${before} -> ${after}) under RSYNC_LOCK while the dying worker was still inside its section`,
    );
    // and the lock still works afterwards
    (await sem.write({ timeoutMs: 3000 })).unlock();
  });
});
