/*
 * SPEC §1 ERR_NOT_ATTACHED: a thread that called detach() has left the domain; its slot (and
 * per-thread area) goes to the next thread that attaches. Every acquisition then throws
 * ERR_NOT_ATTACHED (Mutex.tryLock, RwSem.tryRead, ... do) — but PercpuRwSem.tryRead() on its
 * fast path and Revocable.tryAccess() handed out guards, counting the read side in a per-thread
 * word that another thread may own by then (plain writes to it from two threads lose updates).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code } from '../helpers.js';

describe('acquisitions after detach()', () => {
  it('PercpuRwSem.tryRead() and Revocable.tryAccess() throw ERR_NOT_ATTACHED and count nothing', () => {
    const d = Domain.create({ name: 'detached-acquire', maxThreads: 2 });
    const s = d.percpuRwsem('x');
    const r = d.revocable('y');
    d.detach();
    assert.throws(() => s.tryRead(), code('ERR_NOT_ATTACHED'));
    assert.throws(() => r.tryAccess(), code('ERR_NOT_ATTACHED'));
    const d2 = Domain.attach(d.handle); // takes the freed slot
    assert.deepEqual({ reads: d2.percpuRwsem('x').readers(), accesses: d2.revocable('y').holders().outstanding }, { reads: [], accesses: 0 });
    d2.detach();
  });
});
