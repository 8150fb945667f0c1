/*
 * SPEC §5: a handoff token moves a read side once; adopting it again is ERR_NOT_OWNER, and a
 * token is no use in a domain it was not made in. Tokens are structured-cloneable, so copies
 * outlive their adoption. The handoff table word only held 0 or 1: once a later handoff reused
 * the word, a stale copy of an adopted token redeemed THAT handoff's word and returned a guard
 * for its own object, which had no read side to give (its unlock then took one it never had),
 * while the new token's read side could no longer be adopted by anyone. Likewise a token from
 * another domain redeemed whatever in-transit handoff used the same word here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain, type Access, type HandoffToken, type ReadGuard } from '../../src/index.js';
import { code } from '../helpers.js';

describe('handoff tokens', () => {
  it('a token adopted once stays spent when its table word is reused by another handoff', () => {
    const d = Domain.create({ name: 'handoff-stale-token', maxThreads: 2 });
    const rw = d.rwsem('x');
    const rev = d.revocable('y');
    const t1 = rw.readSync().handoff().token;
    (d.adopt(t1) as ReadGuard).unlock();
    // Handoffs reuse table words: go on until one reuses t1's, and keep that one in transit.
    let t2: HandoffToken | undefined;
    for (let i = 0; i < 20000 && t2 === undefined; i++) {
      const t = rev.tryAccess()!.handoff().token;
      if (t.slot === t1.slot) t2 = t;
      else (d.adopt(t) as Access).release();
    }
    assert.ok(t2 !== undefined, 'no handoff reused the table word');
    assert.throws(() => d.adopt(t1), code('ERR_NOT_OWNER'));
    (d.adopt(t2) as Access).release(); // the in-transit access is still its token's
    assert.deepEqual({ readers: rw.debugState().readers, accesses: rev.holders().outstanding }, { readers: 0, accesses: 0 });
  });

  it('a token from another domain does not redeem a handoff of this one', () => {
    const a = Domain.create({ name: 'handoff-domain-a', maxThreads: 2 });
    const b = Domain.create({ name: 'handoff-domain-b', maxThreads: 2 });
    const ta = a.rwsem('x').readSync().handoff().token;
    const tb = b.rwsem('x').readSync().handoff().token;
    assert.equal(ta.slot, tb.slot); // both fresh tables: the same word
    assert.throws(() => b.adopt(ta), (e) => code('ERR_NOT_OWNER')(e) || code('ERR_BAD_HANDLE')(e));
    (b.adopt(tb) as ReadGuard).unlock();
    (a.adopt(ta) as ReadGuard).unlock();
    assert.deepEqual([a.rwsem('x').debugState().readers, b.rwsem('x').debugState().readers], [0, 0]);
  });
});
