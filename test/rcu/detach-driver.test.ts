/*
 * A thread that detach()es while it drives a grace period must not leave its slot named as the
 * driver (rcu/gp.ts, rcu/srcu.ts: a waiter takes a GP over only when the driver's slot cannot run).
 * Once a new worker takes the freed slot, that slot is ONLINE again, so every waiter believed the
 * (new) occupant drives the GP and none took it over: the GP never ended.
 *
 * Scenario: a worker parks ONLINE outside quiesce (holds every grace period up); a second worker
 * starts driving a grace period, detaches and exits; a third worker takes the freed slot; the
 * parked worker is released. synchronize() on the parent must then complete.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, spawnReady, nextMessage, until, fixture } from '../helpers.js';

describe('a grace period whose driver detached', () => {
  const workers: Worker[] = [];
  after(async () => {
    for (const w of workers) await w.terminate();
  });

  for (const flavour of ['rcu', 'srcu'] as const) {
    it(`${flavour}: ends once its readers leave, although a new worker took the driver's freed slot`, async () => {
      const d = Domain.create({ name: `detach-driver-${flavour}`, maxThreads: 4 });
      const s = flavour === 'srcu' ? d.srcu('dd') : null;
      const holder = await spawnReady(d, 'rcu-review-worker');
      workers.push(holder);
      const f = new Int32Array(new SharedArrayBuffer(8));
      let parked: Promise<unknown> | undefined;
      if (s) await call(holder, 'srcuLock', { name: 'dd' });
      else {
        parked = call(holder, 'park', { sab: f.buffer }, 30000);
        await until(() => Atomics.load(f, 1) === 1, 5000, 'holder parked');
      }

      const driver = d.spawn(fixture('rcu-review-worker'));
      workers.push(driver);
      const dm = await nextMessage(driver, (m) => m.event === 'ready');
      await call(driver, 'driveThenDetach', s ? { srcu: 'dd' } : {});
      const exited = new Promise((r) => driver.once('exit', r));
      driver.postMessage({ cmd: 'exit' });
      await exited;

      const next = d.spawn(fixture('rcu-review-worker'));
      workers.push(next);
      const nm = await nextMessage(next, (m) => m.event === 'ready');
      assert.equal(nm.slot, dm.slot, 'the new worker should take the freed slot');

      if (s) await call(holder, 'srcuUnlock', { name: 'dd' });
      else {
        Atomics.store(f, 0, 1);
        Atomics.notify(f, 0);
        await parked;
      }
      let res = 'ok';
      try {
        await (s ? s.synchronize({ timeoutMs: 3000 }) : d.rcu.synchronize({ timeoutMs: 3000 }));
      } catch (e) {
        res = (e as { code?: string }).code ?? String(e);
      }
      assert.equal(res, 'ok', 'the grace period started by the detached driver never ended');
    });
  }
});
