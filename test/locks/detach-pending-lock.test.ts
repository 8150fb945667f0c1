/*
 * domain.detach() refuses (ERR_DEADLOCK) while this thread holds a lock: a FREE slot is never taken
 * over like a dead one. An async lock() still waiting may have asked for a handoff (the mutex's
 * HANDOFF word names its slot): detach() let it through, and once the worker was gone the next
 * unlock handed the mutex to the FREE slot, where nobody would ever unlock it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, outcomeAsync, sleep, spawnReady } from '../helpers.js';

describe('Mutex: detach() with an async lock() still waiting', () => {
  it('does not leave the mutex to the freed slot once the worker is gone', async () => {
    const d = Domain.create({ name: 'detach-pending-lock', maxThreads: 4 });
    const mu = d.mutex('x');
    let g = mu.lockSync();
    const w = await spawnReady(d, 'detach-pending-lock-worker');
    const exited = new Promise((res) => w.once('exit', res));
    let detach = 'not called';
    try {
      await call(w, 'lockLoop', { name: 'x' });
      // Let the worker's waiter lose a few wake-ups until it asks for a handoff while we hold it.
      for (let i = 0; i < 400 && mu.debugState().handoff <= 0; i++) {
        g.unlock();
        g = mu.lockSync({ timeoutMs: 5000 });
        await sleep(2);
      }
      assert.ok(mu.debugState().handoff > 0, 'the worker asked for a handoff');
      ({ detach } = await call<{ detach: string }>(w, 'detach', { name: 'x' }));
    } finally {
      await w.terminate(); // gone: DEAD if still attached, FREE if detach() went through
    }
    await exited;
    g.unlock();
    const err = await outcomeAsync(async () => (await mu.lock({ timeoutMs: 1000 })).unlock());
    assert.equal(err, 'ok', `the mutex is stuck after the worker left (its detach(): ${detach}; state ${JSON.stringify(mu.debugState())})`);
    assert.equal(detach, 'ERR_DEADLOCK');
  });
});
