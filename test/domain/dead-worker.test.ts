/*
 * SPEC §1: a worker that exits, crashes or is terminated must not wedge the domain; grace periods
 * stop waiting for it at once. Two ways it used to: (a) a plain worker started before its creator
 * attached to any domain (a pool created at startup), attached by handle, then exits: no thread
 * watched it; (b) the spawner is blocked in synchronizeSync() when its worker dies: the spawner's
 * 'exit' handler cannot run until the wait ends, so the wait never learnt of the death.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { fixture, nextMessage } from '../helpers.js';

describe('a dead worker never wedges grace periods', () => {
  it('a plain worker started before the domain existed (a pool), attached by handle, then exits', async () => {
    const w = new Worker(fixture('dead-worker')); // nobody attached yet: no watcher sees it start
    try {
      await nextMessage(w, (m) => m.event === 'ready');
      const d = Domain.create({ name: 'dead-pool', bytes: 1 << 20, maxThreads: 4 });
      const attached = nextMessage(w, (m) => m.event === 'attached');
      w.postMessage({ cmd: 'attach', handle: d.handle });
      const { slot } = await attached;
      const exited = new Promise((r) => w.once('exit', r));
      w.postMessage({ cmd: 'spinThenDie', ms: 0 });
      await exited;
      let res = 'ok';
      try {
        await d.rcu.synchronize({ timeoutMs: 3000 });
      } catch (e) {
        res = (e as { code?: string }).code ?? String(e);
      }
      assert.equal(res, 'ok', `grace periods still wait for the exited worker: ${d.describeThread(slot)}`);
      assert.match(d.describeThread(slot), /dead/);
    } finally {
      await w.terminate();
    }
  });

  for (const how of ['exit', 'throw'] as const) {
    it(`the spawner blocked in synchronizeSync() while its worker dies (${how === 'exit' ? 'process.exit' : 'uncaught error'})`, async () => {
      const d = Domain.create({ name: `dead-blocked-${how}`, bytes: 1 << 20, maxThreads: 4 });
      const w = d.spawn(fixture('dead-worker'));
      w.on('error', () => {}); // the uncaught error, reported here
      try {
        await nextMessage(w, (m) => m.event === 'ready');
        const attached = nextMessage(w, (m) => m.event === 'attached');
        w.postMessage({ cmd: 'attach' }); // no argument: the spawn reservation
        await attached;
        const f = new Int32Array(new SharedArrayBuffer(4));
        w.postMessage({ cmd: 'spinThenDie', ms: 300, sab: f.buffer, how });
        Atomics.wait(f, 0, 0, 10000); // until the worker spins (inside no quiescent state)
        let res = 'ok';
        const t0 = performance.now();
        try {
          d.rcu.synchronizeSync({ timeoutMs: 4000 }); // blocks this thread: its 'exit' handler cannot run
        } catch (e) {
          res = (e as { code?: string }).code ?? String(e);
        }
        const ms = Math.round(performance.now() - t0);
        assert.equal(res, 'ok', `synchronizeSync() waited ${ms} ms for a worker that died after ~300 ms`);
      } finally {
        await w.terminate();
      }
    });
  }
});
