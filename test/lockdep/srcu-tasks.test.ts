/*
 * SRCU read sections of two async tasks of one thread (SPEC §6: held locks are tracked per
 * context, the async task for `await` code; Srcu read sections may span `await`). Each
 * readUnlock() must end ITS OWN task's section in lockdep, not the other task's (review finding t05).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Domain, lockdep, type LockClass } from '../../src/index.js';
import { sleep } from '../helpers.js';

lockdep.enable({ action: 'collect' });
const d = Domain.create({ name: 'ld-srcu-tasks', maxThreads: 2 });
const isHeld = (c: LockClass): boolean => {
  try {
    lockdep.assertHeld(c);
    return true;
  } catch {
    return false;
  }
};

test('srcu: task A leaves its section while task B is still inside; A then synchronizes', async () => {
  lockdep.reset();
  const s = d.srcu('st.s');
  const cls = lockdep.lockClass('st.s');
  let aHeldAfterUnlock: boolean | undefined;
  let bHeldInside: boolean | undefined;
  async function a(): Promise<void> {
    await null;
    const i = s.readLock();
    await sleep(5);
    s.readUnlock(i);
    aHeldAfterUnlock = isHeld(cls);
    await s.synchronize(); // outside any read section: legal
  }
  async function b(): Promise<void> {
    await null;
    const i = s.readLock();
    await sleep(15);
    bHeldInside = isHeld(cls);
    s.readUnlock(i);
  }
  await Promise.all([a(), b()]);
  const reports = lockdep.reports();
  assert.deepEqual(reports.map((r) => r.kind), [], reports.map((r) => r.text).join('\n'));
  assert.equal(aHeldAfterUnlock, false, 'A still holds the srcu read side after its readUnlock');
  assert.equal(bHeldInside, true, 'B no longer holds the srcu read side inside its section');
  lockdep.reset();
});

test('cleanup', () => d.detach());
