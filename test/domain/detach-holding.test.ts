/*
 * detach() while this thread holds a lock or a Revocable access. The slot becomes FREE, not DEAD:
 * nobody would ever take the lock over (ownerDied is for dead owners), and the slot's next occupant
 * would appear to hold it (its lockSync() would even throw ERR_DEADLOCK for a lock it never took;
 * its revokeSync() likewise for an access it never took, and both threads would then write the
 * slot's per-thread access count). So detach() refuses: ERR_DEADLOCK naming the object, and
 * nothing changes; after the unlock / release it detaches.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code } from '../helpers.js';


describe('detach() while holding a lock', () => {
  const unlocking = (g: { unlock(): void }) => () => g.unlock();
  for (const [what, name, take] of [
    ['Mutex (lockSync)', 'm', (d: Domain) => unlocking(d.mutex('m').lockSync())],
    ['RwSem write side', 'rw', (d: Domain) => unlocking(d.rwsem('rw').writeSync())],
    ['RwSem read side', 'rw', (d: Domain) => unlocking(d.rwsem('rw').readSync())],
    ['PercpuRwSem write side', 'prw', (d: Domain) => unlocking(d.percpuRwsem('prw').writeSync())],
    ['PercpuRwSem read side', 'prw', (d: Domain) => unlocking(d.percpuRwsem('prw').readSync())],
    [
      'Revocable access',
      'rv',
      (d: Domain) => {
        const a = d.revocable('rv').tryAccess()!;
        return () => a.release();
      },
    ],
  ] as const) {
    it(`${what}: throws ERR_DEADLOCK naming it and stays attached; detaches after the unlock`, () => {
      const d = Domain.create({ name: `detach-holding-${what}`, maxThreads: 2 });
      const letGo = take(d);
      assert.throws(() => d.detach(), (e: unknown) => code('ERR_DEADLOCK')(e) && (e as Error).message.includes(`'${name}'`));
      assert.equal(d.threadIndex >= 0, true);
      letGo();
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
