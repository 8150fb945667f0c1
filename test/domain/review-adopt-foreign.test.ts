/*
 * domain.adopt(token) with a token that cannot be from this domain (its object does not exist
 * here, or is of another kind or class) or is corrupt: it throws and changes nothing. It used to
 * create the named object first (a stray RwSem, for good, in the wrong domain) and then throw
 * ERR_NOT_OWNER, or throw ERR_KIND_MISMATCH / ERR_INVALID_ARG for what was the token's fault.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { H_REGISTRY_COUNT } from '../../src/domain/layout.js';
import { code } from '../helpers.js';
import type { ReadGuard } from '../../src/index.js';

describe('adopt a token from another domain', () => {
  it('throws ERR_NOT_OWNER and creates nothing; a corrupt token is ERR_BAD_HANDLE', () => {
    const a = Domain.create({ name: 'adopt-a', bytes: 1 << 20, maxThreads: 2 });
    const b = Domain.create({ name: 'adopt-b', bytes: 1 << 20, maxThreads: 2 });
    const t1 = a.rwsem('only-in-a').readSync().handoff().token;
    const t2 = a.rwsem('a-mutex-in-b').readSync().handoff().token;
    const t3 = a.rwsem('other-class', { class: 'C1' }).readSync().handoff().token;
    b.mutex('a-mutex-in-b');
    b.rwsem('other-class', { class: 'C2' });
    const count = (): number => Atomics.load(b.core.i32, H_REGISTRY_COUNT);
    const before = count();
    assert.throws(() => b.adopt(t1), code('ERR_NOT_OWNER'));
    assert.equal(count(), before, "adopt() created 'only-in-a' in the other domain");
    assert.throws(() => b.adopt(t2), code('ERR_NOT_OWNER'));
    assert.throws(() => b.adopt(t3), code('ERR_NOT_OWNER'));
    assert.throws(() => b.adopt({ ...t1, name: 42 } as never), code('ERR_BAD_HANDLE'));
    assert.throws(() => b.adopt({ ...t1, class: '' } as never), code('ERR_BAD_HANDLE'));
    assert.equal(count(), before);
    // the tokens are still good where they came from
    (a.adopt(t1) as ReadGuard).unlock();
    (a.adopt(t2) as ReadGuard).unlock();
    (a.adopt(t3) as ReadGuard).unlock();
    a.detach();
    b.detach();
  });
});
