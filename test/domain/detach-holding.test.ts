/*
 * detach() while this thread holds a lock. The slot becomes FREE, not DEAD: nobody would ever take
 * the lock over (ownerDied is for dead owners), and the slot's next occupant would appear to hold
 * it (its lockSync() would even throw ERR_DEADLOCK for a lock it never took). So detach() refuses:
 * ERR_DEADLOCK naming the lock, and nothing changes; after the unlock it detaches.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code } from '../helpers.js';


describe('detach() while holding a lock', () => {
  for (const [what, take] of [
    ['Mutex (lockSync)', (d: Domain) => d.mutex('m').lockSync()],
    ['RwSem write side', (d: Domain) => d.rwsem('rw').writeSync()],
    ['RwSem read side', (d: Domain) => d.rwsem('rw').readSync()],
    ['PercpuRwSem write side', (d: Domain) => d.percpuRwsem('prw').writeSync()],
    ['PercpuRwSem read side', (d: Domain) => d.percpuRwsem('prw').readSync()],
  ] as const) {
    it(`${what}: throws ERR_DEADLOCK naming it and stays attached; detaches after the unlock`, () => {
      const d = Domain.create({ name: `detach-holding-${what}`, maxThreads: 2 });
      const g = take(d);
      assert.throws(() => d.detach(), (e: unknown) => code('ERR_DEADLOCK')(e) && /unlock/.test((e as Error).message));
      assert.equal(d.threadIndex >= 0, true);
      g.unlock();
      d.detach();
    });
  }

  it('Mutex taken with await lock(): the same', async () => {
    const d = Domain.create({ name: 'detach-holding-async', maxThreads: 2 });
    const g = await d.mutex('m').lock();
    assert.throws(() => d.detach(), code('ERR_DEADLOCK'));
    g.unlock();
    d.detach();
  });
});
