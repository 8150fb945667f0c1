/*
 * SPEC §5: PercpuRwSem has the same surface as RwSem, and domain.adopt() returns ReadGuard | Access.
 * This file type-checks that (the build compiles it: a mismatch fails `npm test` before any test
 * runs) and checks `instanceof ReadGuard` / `instanceof WriteGuard` for both locks' guards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain, ReadGuard, WriteGuard, type Access, type PercpuRwSem, type RwSem } from '../../src/index.js';

/** Written once for both kinds: only the shared surface is used. */
async function exercise(sem: RwSem | PercpuRwSem, d: Domain): Promise<void> {
  const r: ReadGuard = await sem.read();
  assert.ok(r instanceof ReadGuard && !(r instanceof WriteGuard));
  assert.equal(r.held, true);
  const adopted: ReadGuard | Access = d.adopt(r.handoff().token);
  assert.ok(adopted instanceof ReadGuard, 'adopt() of a read side is a ReadGuard');
  assert.equal(r.held, false);
  if (adopted instanceof ReadGuard) adopted.unlock(); // instanceof narrows ReadGuard | Access
  const w: WriteGuard = await sem.write();
  assert.ok(w instanceof WriteGuard && !(w instanceof ReadGuard));
  const down: ReadGuard = w.downgrade();
  assert.ok(down instanceof ReadGuard);
  assert.equal(w.held, false);
  down[Symbol.dispose]();
  assert.equal(down.held, false);
  const s: ReadGuard = sem.readSync();
  s.unlock();
  const ws: WriteGuard = sem.writeSync();
  ws.unlock();
}

describe('ReadGuard / WriteGuard: one surface for RwSem and PercpuRwSem', () => {
  it('both locks give guards of the SPEC types, adopt() returns a ReadGuard, instanceof works for both', async () => {
    const d = Domain.create({ name: 'rw-guards', maxThreads: 2 });
    try {
      await exercise(d.rwsem('rw'), d);
      await exercise(d.percpuRwsem('prw'), d);
      assert.equal({} instanceof ReadGuard, false);
      assert.equal((null as unknown) instanceof WriteGuard, false);
    } finally {
      d.detach();
    }
  });
});
