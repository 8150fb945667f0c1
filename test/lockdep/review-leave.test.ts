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
