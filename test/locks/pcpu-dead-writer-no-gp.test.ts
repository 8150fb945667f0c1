/*
 * SPEC §1/§5: a PercpuRwSem writer that dies must not keep readers off their fast path. Its death
 * handler runs rcu_sync_exit on its behalf; the grace period that takes rcu_sync back to idle
 * must then be driven by the live threads themselves (a slow-path reader, a later writer), not by
 * some unrelated rcu.synchronize() (which test/locks/pcpu-dead-writer.test.ts's settle() does).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, type PercpuRwSem } from '../../src/index.js';
import { call, sleep, spawnReady, withTimeout } from '../helpers.js';

/** Take and drop the read side now and then (slow-path readers) until rcu_sync is idle, at most `ms`. */
async function readForAWhile(sem: PercpuRwSem, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end && !sem.rs.isIdle()) {
    sem.tryRead()?.unlock();
    await sleep(10);
  }
}

describe('PercpuRwSem: a dead writer, no unrelated grace period', () => {
  const d = Domain.create({ name: 'pcpu-dead-writer-no-gp', maxThreads: 4 });

  async function spawnWriter(name: string): Promise<Worker> {
    const w = await spawnReady(d, 'locks-pcpu-worker');
    assert.equal((await call(w, 'write', { name, key: 'w', sync: true, timeoutMs: 3000 })).ok, true);
    return w;
  }

  async function kill(w: Worker): Promise<void> {
    const exited = new Promise((res) => w.once('exit', res));
    await w.terminate();
    await exited;
  }

  it('control: a live writer that unlocks: readers get back to the fast path by themselves', async () => {
    const sem = d.percpuRwsem('control');
    const w = await spawnWriter('control');
    await call(w, 'unlock', { key: 'w' });
    await readForAWhile(sem, 3000);
    assert.equal(sem.rs.isIdle(), true, `rcu_sync state ${sem.rs.state()}`);
    await kill(w);
  });

  it('a writer that dies holding the write side: readers get back to the fast path by themselves', async () => {
    const sem = d.percpuRwsem('dead');
    await kill(await spawnWriter('dead'));
    (await withTimeout(sem.read({ timeoutMs: 2000 }), 3000, 'read after the writer died')).unlock();
    await readForAWhile(sem, 3000);
    assert.equal(sem.rs.isIdle(), true, `rcu_sync state stuck at ${sem.rs.state()} (3 = EXIT, no grace period driven): readers stay on the slow path`);
  });

  it('... and a later live writer does not leave rcu_sync stuck either', async () => {
    const sem = d.percpuRwsem('dead-then-writer');
    await kill(await spawnWriter('dead-then-writer'));
    (await withTimeout(sem.write({ timeoutMs: 3000 }), 4000, 'write after the writer died')).unlock();
    // No reader: the writer's own exit must get rcu_sync back to idle.
    for (let i = 0; i < 300 && !sem.rs.isIdle(); i++) await sleep(10);
    assert.equal(sem.rs.isIdle(), true, `rcu_sync state stuck at ${sem.rs.state()} (4 = REPLAY, no rcu_sync_func queued anywhere)`);
    sem.tryRead()!.unlock();
  });
});
