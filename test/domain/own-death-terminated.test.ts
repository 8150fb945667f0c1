/*
 * A worker that exits marks its own slot DEAD and runs the death handlers itself (domain.ts
 * markOwnDeathAtExit). If its spawner terminate()s it in the middle of them, the rest must still
 * run: the spawner's watcher, which finds the slot DEAD already (markDead() returns false), claims
 * the cut-short handling in stopped() and runs every handler again for that slot; the handlers
 * are safe to run a second time after a partial first run (PercpuRwSem: no rcu_sync_exit lost,
 * none done twice).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, fixture, nextMessage, until } from '../helpers.js';

describe('terminate() while a worker runs its own death handlers', () => {
  it('every handler still runs: no write lock of the dead worker stays held', async () => {
    const d = Domain.create({ name: 'own-death-terminated', bytes: 1 << 20, maxThreads: 4 });
    const names = ['a', 'b', 'c', 'd'];
    const sems = names.map((n) => d.percpuRwsem(n));
    const flag = new Int32Array(new SharedArrayBuffer(16));
    const w = d.spawn(fixture('own-death-terminated-worker'), { workerData: { flag: flag.buffer } });
    try {
      await nextMessage(w, (m) => m.event === 'ready');
      assert.equal((await call(w, 'write', { names })).ok, true);
      w.postMessage({ cmd: 'exit' });
      // The worker is inside its first PercpuRwSem handler (in RcuSync.exit(), holding RSYNC_LOCK).
      assert.notEqual(Atomics.wait(flag, 0, 0, 10000), 'timed-out', 'the worker never reached its death handler');
      await w.terminate(); // cuts its own handlers short
      assert.equal(Atomics.load(flag, 2), 0, 'the worker finished its handlers before terminate(): the test proves nothing');
      const stuck: string[] = [];
      for (const [i, sem] of sems.entries()) {
        try {
          sem.readSync({ timeoutMs: 1000 }).unlock();
        } catch (e) {
          stuck.push(`${names[i]}: ${(e as { code?: string }).code}`);
        }
      }
      assert.deepEqual(stuck, [], `write locks of the terminated worker never released: ${stuck.join(', ')}`);
      // Every rcu_sync_exit the dead writer owed was done exactly once: back to the fast path.
      await until(() => sems.every((s) => s.rs.isIdle()), 10000, 'every rcu_sync back to idle');
      for (const s of sems) (await s.write({ timeoutMs: 3000 })).unlock();
      await until(() => sems.every((s) => s.rs.isIdle()), 10000, 'every rcu_sync idle after a new writer');
    } finally {
      Atomics.store(flag, 1, 1);
      Atomics.notify(flag, 1);
      await w.terminate();
      d.detach();
    }
  });
});
