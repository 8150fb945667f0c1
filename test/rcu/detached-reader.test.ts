/*
 * After detach() a read section can no longer be protected: the slot is FREE, so grace periods do
 * not wait for the thread (an RCU reader there would be inside while a GP ends), and SRCU counters
 * written to a freed slot are its next occupant's, which it increments with plain writes. So a
 * readLock() through an Rcu / Srcu object obtained before detach() throws ERR_NOT_ATTACHED, like
 * every other use (SPEC §1), instead of entering an unprotected section.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code } from '../helpers.js';

describe('read sections after detach()', () => {
  it('rcu.readLock() / rcu.read() throw ERR_NOT_ATTACHED, also in the turn that detached after a section', () => {
    const d = Domain.create({ name: 'detached-rcu-reader', maxThreads: 2 });
    const rcu = d.rcu;
    rcu.read(() => 1); // a section earlier in this turn
    d.detach();
    assert.throws(() => rcu.readLock(), code('ERR_NOT_ATTACHED'));
    assert.throws(() => rcu.read(() => 1), code('ERR_NOT_ATTACHED'));
    assert.equal(rcu.inReadSection, false, 'a refused readLock() leaves no section open');
  });

  it('rcu.readLock() throws ERR_NOT_ATTACHED in a later turn too', async () => {
    const d = Domain.create({ name: 'detached-rcu-reader-2', maxThreads: 2 });
    const rcu = d.rcu;
    d.detach();
    await new Promise((r) => setImmediate(r));
    assert.throws(() => rcu.readLock(), code('ERR_NOT_ATTACHED'));
    assert.equal(rcu.inReadSection, false);
  });

  it('srcu.readLock() / srcu.read() throw ERR_NOT_ATTACHED', async () => {
    const d = Domain.create({ name: 'detached-srcu-reader', maxThreads: 2 });
    const s = d.srcu('s');
    s.readUnlock(s.readLock());
    d.detach();
    assert.throws(() => s.readLock(), code('ERR_NOT_ATTACHED'));
    await assert.rejects(s.read(() => 1), code('ERR_NOT_ATTACHED'));
  });
});
