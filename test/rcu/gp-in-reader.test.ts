/*
 * A grace period must not end inside the read section of the thread that drives it (SPEC §3: it
 * ends once every thread that was inside a read section when it began has left it).
 * getState()/call() are legal inside rcu.read() (get_state_synchronize_rcu/call_rcu are legal
 * under rcu_read_lock()) and start driving a grace period at once, synchronously: the driver must
 * count its own open section, not skip its own thread as "quiescent by construction".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { Deadline } from '../../src/domain/wait.js';
import { call, code, fixture, nextMessage, until, withTimeout } from '../helpers.js';

describe('a grace period driven from inside a read section waits for that section', () => {
  it('getState() inside a read section: no grace period ends and pollState stays false until it closes', async () => {
    const d = Domain.create({ name: 'gp-in-reader-1', maxThreads: 4 }); // no other thread: nothing else holds a GP up
    try {
      const before = d.rcu.stats.gracePeriods;
      let cookie = 0;
      let polled = true;
      let gpsInside = -1;
      d.rcu.read(() => {
        cookie = d.rcu.getState();
        polled = d.rcu.pollState(cookie);
        gpsInside = d.rcu.stats.gracePeriods - before;
      });
      assert.equal(gpsInside, 0, 'a grace period completed inside the read section that was open when it began');
      assert.equal(polled, false, 'pollState(cookie) was true inside the section that was open at getState()');
      // ...and once the section has closed, getState()'s own driver completes it without help.
      await until(() => d.rcu.pollState(cookie), 3000, 'pollState after the section closed');
    } finally {
      d.detach();
    }
  });

  it('call() inside a read section: no grace period ends inside it; the callback runs after', async () => {
    const d = Domain.create({ name: 'gp-in-reader-2', maxThreads: 4 });
    try {
      const before = d.rcu.stats.gracePeriods;
      let ran = false;
      let gpsInside = -1;
      d.rcu.read(() => {
        d.rcu.call(() => (ran = true));
        gpsInside = d.rcu.stats.gracePeriods - before;
      });
      assert.equal(gpsInside, 0, 'a grace period ended under an open reader');
      assert.equal(ran, false);
      await withTimeout(d.rcu.barrier(), 3000, 'barrier');
      assert.equal(ran, true);
    } finally {
      d.detach();
    }
  });

  it('srcu.synchronize() inside an RCU read section: its RCU grace period (step 2) waits for the section', async () => {
    const d = Domain.create({ name: 'gp-in-reader-3', maxThreads: 4 });
    try {
      const s = d.srcu('s');
      const before = d.rcu.stats.gracePeriods;
      let p!: Promise<void>;
      let gpsInside = -1;
      d.rcu.read(() => {
        p = s.synchronize();
        gpsInside = d.rcu.stats.gracePeriods - before;
      });
      assert.equal(gpsInside, 0, 'an RCU grace period ended under an open reader');
      await withTimeout(p, 3000, 'srcu.synchronize');
      assert.ok(d.rcu.stats.gracePeriods > before);
    } finally {
      d.detach();
    }
  });

  it('a blocking grace-period wait inside a read section throws ERR_RCU_MISUSE instead of waiting for itself', () => {
    const d = Domain.create({ name: 'gp-in-reader-4', maxThreads: 4 });
    try {
      d.rcu.read(() => {
        // (the internal engine: PercpuRef's blocking switches reach it without an RCU-level check)
        assert.throws(() => d.rcu.gp.waitSync(d.rcu.gp.snap(), new Deadline(2000)), code('ERR_RCU_MISUSE'));
      });
    } finally {
      d.detach();
    }
  });
});

describe('across threads: another thread\'s synchronizeSync() does not return inside an earlier reader', () => {
  let d: Domain;
  let w: Worker;
  let wslot: number;
  before(async () => {
    d = Domain.create({ name: 'gp-in-reader-x', maxThreads: 4 });
    w = d.spawn(fixture('rcu-worker'));
    ({ slot: wslot } = await nextMessage<{ slot: number }>(w, (m) => m.event === 'ready'));
  });
  after(async () => {
    await w.terminate();
  });

  it('main drives from inside its reader while the worker blocks in synchronizeSync()', async () => {
    const f = new Int32Array(new SharedArrayBuffer(16));
    const done = call<{ res: string }>(w, 'syncWhenReleased', { sab: f.buffer, timeoutMs: 5000 });
    await until(() => Atomics.load(f, 0) === 1, 5000, 'worker parked');
    // The worker is ONLINE and acknowledges nothing: this grace period (driven by this thread,
    // claimed synchronously) stays open until the worker returns to its event loop.
    const p = d.rcu.synchronizeExpedited();
    const blocked = (): boolean => d.describeThread(wslot).includes('blocked');
    let returnedInside = false;
    let polledInside = false;
    let sawBlocked = false;
    d.rcu.read(() => {
      // Only now does the worker start its synchronizeSync(): this reader began before it.
      Atomics.store(f, 1, 1);
      Atomics.notify(f, 1);
      const end = performance.now() + 5000;
      while ((Atomics.load(f, 2) === 0 || !blocked()) && performance.now() < end);
      sawBlocked = blocked();
      // getState() is legal here and drives from this thread, which must count its own reader.
      // Drive whenever the worker is parked (OFFLINE, so not waited for) and watch for it returning.
      const cookie = d.rcu.getState();
      polledInside = d.rcu.pollState(cookie);
      const stop = performance.now() + 500;
      while (performance.now() < stop) {
        if (Atomics.load(f, 3) !== 0) {
          returnedInside = true;
          break;
        }
        if (blocked()) d.rcu.getState();
      }
    });
    assert.ok(sawBlocked, 'setup: the worker never blocked in synchronizeSync()');
    assert.equal(returnedInside, false, "the worker's synchronizeSync() returned while this earlier reader was still inside");
    assert.equal(polledInside, false, 'pollState(cookie) true inside the reader that was open at getState()');
    await withTimeout(p, 5000, 'synchronizeExpedited');
    const r = await withTimeout(done, 6000, 'worker synchronizeSync');
    assert.equal(r.res, 'ok');
  });
});
