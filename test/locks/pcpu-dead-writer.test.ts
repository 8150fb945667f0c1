/*
 * SPEC §1: a worker that dies must not wedge the domain. A PercpuRwSem writer enters rcu_sync
 * (readers leave their fast path) before it waits for BLOCK and for readers; if it dies anywhere
 * after that enter, its rcu_sync_exit must still happen, or readers stay on the slow path forever.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain, type PercpuRwSem } from '../../src/index.js';
import { call, sleep, spawnReady, withTimeout } from '../helpers.js';

/** A few grace periods, with a slow-path reader in between (it runs a pending rcu_sync_func). */
async function settle(d: Domain, sem: PercpuRwSem): Promise<void> {
  for (let i = 0; i < 5 && !sem.rs.isIdle(); i++) {
    await d.rcu.synchronize({ timeoutMs: 2000 });
    await sleep(20);
    sem.tryRead()?.unlock();
  }
}

describe('PercpuRwSem: a writer that dies', () => {
  const d = Domain.create({ name: 'pcpu-dead-writer', maxThreads: 4 });

  async function spawnAndKill(run: (w: import('node:worker_threads').Worker) => Promise<void>): Promise<void> {
    const w = await spawnReady(d, 'locks-pcpu-worker');
    await run(w);
    const exited = new Promise((res) => w.once('exit', res));
    await w.terminate();
    await exited;
  }

  it('while waiting to write does not keep readers off the fast path forever', async () => {
    const sem = d.percpuRwsem('waiting');
    const wg = await withTimeout(sem.write({ timeoutMs: 3000 }), 4000, 'write');
    await spawnAndKill(async (w) => {
      // rcu_sync is entered already (we hold it): the worker's enter returns at once, it waits for BLOCK.
      assert.equal((await call(w, 'write', { name: 'waiting', key: 'w', timeoutMs: 60000, replyStarted: true })).started, true);
    });
    wg.unlock();
    await settle(d, sem);
    assert.equal(sem.rs.isIdle(), true, `rcu_sync state stuck at ${sem.rs.state()} (readers on the slow path for ever)`);
    // and the lock still works both ways
    sem.tryRead()!.unlock();
    (await withTimeout(sem.write({ timeoutMs: 3000 }), 4000, 'write after')).unlock();
  });

  it('while holding the write side releases it, and readers get back to the fast path', async () => {
    const sem = d.percpuRwsem('holding');
    await spawnAndKill(async (w) => {
      assert.equal((await call(w, 'write', { name: 'holding', key: 'w', sync: true, timeoutMs: 3000 })).ok, true);
      assert.equal(sem.tryRead(), null);
    });
    (await withTimeout(sem.read({ timeoutMs: 2000 }), 3000, 'read after the writer died')).unlock();
    (await withTimeout(sem.write({ timeoutMs: 3000 }), 4000, 'write after the writer died')).unlock();
    await settle(d, sem);
    assert.equal(sem.rs.isIdle(), true, `rcu_sync state stuck at ${sem.rs.state()}`);
  });

  it('control: without a dead writer, rcu_sync returns to idle', async () => {
    const sem = d.percpuRwsem('control');
    (await withTimeout(sem.write({ timeoutMs: 3000 }), 4000, 'write')).unlock();
    await settle(d, sem);
    assert.equal(sem.rs.isIdle(), true);
  });
});
