/*
 * A worker that ends cleanly calls domain.detach() (README), which refuses (ERR_DEADLOCK) while the
 * thread holds a lock, since a FREE slot is never taken over like a dead one. An async write()
 * still WAITING already counts in shared state: an RwSem's waiting-writer registration (it keeps
 * every new reader out), a PercpuRwSem's BLOCK and rcu_sync enter (readers queue on BLOCK). Those
 * used to pass detach(): once the worker was gone, readers were locked out for good.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, outcome, spawnReady } from '../helpers.js';

describe('detach() with an async write() still waiting', () => {
  for (const kind of ['rwsem', 'percpuRwsem'] as const) {
    it(`${kind}: does not leave readers locked out once the worker is gone`, async () => {
      const d = Domain.create({ name: `detach-pending-writer-${kind}`, maxThreads: 4 });
      const sem = kind === 'rwsem' ? d.rwsem('x') : d.percpuRwsem('x');
      const r = sem.readSync(); // the worker's writer waits for this read
      const w = await spawnReady(d, 'detach-pending-writer-worker');
      const exited = new Promise((res) => w.once('exit', res));
      let detach: string;
      try {
        ({ detach } = await call<{ detach: string }>(w, 'x', { kind, name: 'x' }));
      } finally {
        await w.terminate(); // gone: DEAD if still attached, FREE if detach() went through
      }
      await exited;
      r.unlock();
      const err = outcome(() => sem.readSync({ timeoutMs: 1000 }).unlock());
      assert.equal(err, 'ok', `a reader is locked out after the worker left (its detach(): ${detach})`);
      assert.equal(detach, 'ERR_DEADLOCK');
    });
  }
});
