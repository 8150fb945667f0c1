/*
 * ld.leave (context.ts leave) as used by Srcu.read(fn) and Revocable.withAccess(fn): the caller
 * stops holding the section / access once the helper returns its promise, and fn's task AND the
 * helper's own continuation (which ends the section) keep holding it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Domain, lockdep } from '../../src/index.js';
import { sleep } from '../helpers.js';

describe('lockdep: ld.leave for Srcu.read / Revocable.withAccess', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it('Srcu.read: two concurrent sections on one thread; the first to end ends its own, not the other task\'s', async () => {
    // readUnlock(idx) ends the hold the CURRENT context holds, else the newest: read()'s own
    // continuation must hold its section, or it ends the newest (another task's) instead.
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-leave-srcu-two', maxThreads: 2 });
    const s = d.srcu('leave_two_S');
    let endA!: () => void;
    const pA = s.read(async () => {
      await new Promise<void>((r) => (endA = r));
    });
    let heldInB: unknown = 'not run';
    const pB = s.read(async () => {
      await sleep(40);
      try {
        lockdep.assertHeld(s);
        heldInB = true;
      } catch (e) {
        heldInB = e;
      }
    });
    await sleep(5);
    endA();
    await pA; // A's section ends while B's fn still runs
    await pB;
    assert.equal(heldInB, true);
    assert.deepEqual(lockdep.reports().map((r) => r.kind), []);
    d.detach();
  });

  for (const helper of ['Revocable.withAccess', 'Srcu.read'] as const) {
    it(`${helper}: the caller stops holding even if fn's synchronous part compacted the stack (lock coupling)`, async () => {
      // fn drops a lock the caller took before the helper (so a dead entry lies under the hold),
      // then takes a lock: current() rebuilds the stack, and the caller's top is a new Node for
      // the hold, not the Entry itself.
      lockdep.enable({ action: 'collect' });
      const d = Domain.create({ name: `ld-leave-couple-${helper}`, maxThreads: 2 });
      const a = d.mutex(`couple_${helper}_A`);
      const b = d.mutex(`couple_${helper}_B`);
      const dev = helper === 'Srcu.read' ? d.srcu(`couple_${helper}_H`) : d.revocable(`couple_${helper}_H`);
      const ga = a.lockSync();
      const fn = async (): Promise<void> => {
        ga.unlock();
        b.lockSync().unlock();
        await sleep(20);
        lockdep.assertHeld(dev); // fn's task holds it
      };
      const p = dev instanceof Object && 'withAccess' in dev ? dev.withAccess(fn) : dev.read(fn);
      lockdep.assertNotHeld(dev); // the caller does not
      await p;
      lockdep.assertNotHeld(dev);
      assert.deepEqual(lockdep.reports().map((r) => r.kind), []);
      d.detach();
    });
  }
});
