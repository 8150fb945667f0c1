/*
 * A thread blocked inside one of quiesce's own waits never holds a grace period up (SPEC §3), even
 * when it is the driver of that grace period: thread A drives a GP from an async synchronize(),
 * then blocks in completion.waitSync() (OFFLINE). Its async driver cannot run until A wakes, so
 * another thread's synchronizeSync() must take the GP over instead of waiting for A's driver;
 * here that other thread is the one that would complete A's completion (a deadlock otherwise).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, spawnReady, until, withTimeout } from '../helpers.js';

describe('a grace-period driver blocked in a quiesce wait does not stall other threads', () => {
  let d: Domain;
  let w: Worker;
  before(async () => {
    d = Domain.create({ name: 'blocked-driver', maxThreads: 4 });
    w = await spawnReady(d, 'rcu-worker');
  });
  after(async () => {
    await w.terminate();
  });

  for (const flavour of ['rcu', 'srcu'] as const) {
    it(`${flavour}: the worker's synchronizeSync() takes over from the blocked (offline) driver`, async () => {
      const name = `done-${flavour}`;
      const c = d.completion(name);
      const s = flavour === 'srcu' ? d.srcu('blocked-driver') : null;
      const f = new Int32Array(new SharedArrayBuffer(16));
      const reply = call<{ res: string; ms: number }>(w, 'syncWhenReleased', {
        sab: f.buffer,
        timeoutMs: 2000,
        complete: name,
        ...(s ? { srcu: 'blocked-driver' } : {}),
      });
      await until(() => Atomics.load(f, 0) === 1, 5000, 'worker parked');
      // The worker is parked ONLINE outside quiesce: the grace period this thread now starts
      // driving (claimed synchronously, inside this call) waits for it. The SRCU driver drives
      // that RCU grace period as its step 2.
      const p = s ? s.synchronize() : d.rcu.synchronizeExpedited();
      // Release the worker into synchronizeSync(), then block here (OFFLINE) until it completes `c`.
      Atomics.store(f, 1, 1);
      Atomics.notify(f, 1);
      let mainWait = 'ok';
      const t0 = performance.now();
      try {
        c.waitSync({ timeoutMs: 4000 });
      } catch (e) {
        mainWait = (e as { code?: string }).code ?? String(e);
      }
      const blockedMs = Math.round(performance.now() - t0);
      const r = await withTimeout(reply, 5000, 'worker reply');
      await withTimeout(p, 5000, `${flavour} synchronize on the blocked thread`);
      assert.equal(r.res, 'ok', `worker synchronizeSync(): ${r.res} after ${Math.round(r.ms)} ms while the driver's thread was blocked (offline)`);
      assert.equal(mainWait, 'ok', `completion.waitSync(): ${mainWait} after ${blockedMs} ms`);
      assert.ok(blockedMs < 1500, `the driver's thread stayed blocked ${blockedMs} ms`);
    });
  }
});
