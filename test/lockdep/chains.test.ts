/*
 * The chain-key cache (src/lockdep/chains.ts): a chain validated once is served from the cache
 * afterwards (chainStats.validations stays flat), a new chain (or the same classes in another
 * order/mode) is validated, and a cached chain still finds the held stack right (the fast path
 * must not lose a check: an inversion after a cached chain is still reported).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockdep } from '../../src/lockdep/index.js';
import { ld, type HeldLock, type LockClass } from '../../src/lockdep/hooks.js';
import { chainStats, chainAdd, chainSeen } from '../../src/lockdep/chains.js';

function nested(a: LockClass, b: LockClass, c: LockClass): void {
  lockdep.acquire(a);
  lockdep.acquire(b);
  lockdep.acquire(c, { mode: 'read' });
  lockdep.release(c);
  lockdep.release(b);
  lockdep.release(a);
}

test('sync steady state: a repeated chain is validated once, then served from the cache', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [A, B, C] = ['chain.A', 'chain.B', 'chain.C'].map((n) => lockdep.lockClass(n)) as [LockClass, LockClass, LockClass];
  assert.equal(chainStats.validations, 0, 'reset clears the counter');
  nested(A, B, C);
  const first = chainStats.validations;
  assert.equal(first, 3, 'A, A+B, A+B+C(read): three new chains');
  for (let i = 0; i < 1000; i++) nested(A, B, C);
  assert.equal(chainStats.validations, first, 'no validation in the steady state');
  lockdep.acquire(A);
  lockdep.acquire(B);
  lockdep.acquire(C); // same classes, C now for write: a different chain
  lockdep.release(C);
  lockdep.release(B);
  lockdep.release(A);
  assert.equal(chainStats.validations, first + 1, 'a new mode is a new chain');
  assert.deepEqual(lockdep.reports(), []);
  lockdep.disable();
});

test('the fast path keeps checking: B then A after cached A then B is still a cycle', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = lockdep.lockClass('chain.X');
  const B = lockdep.lockClass('chain.Y');
  for (let i = 0; i < 100; i++) {
    lockdep.acquire(A);
    lockdep.acquire(B);
    lockdep.release(B);
    lockdep.release(A);
  }
  const v = chainStats.validations;
  lockdep.acquire(B);
  lockdep.acquire(A);
  lockdep.release(A);
  lockdep.release(B);
  assert.equal(chainStats.validations, v + 2, 'chains B and B+A are new (the cache is no excuse to skip them)');
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular']);
  lockdep.disable();
});

test('async steady state: `await lock()` chains are cached too', async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [A, B, C] = ['chain.async.A', 'chain.async.B', 'chain.async.C'].map((n) => ld.classFor(n)) as [LockClass, LockClass, LockClass];
  // Mutex.lock()'s shape: announce synchronously, before any await.
  const lock = async (cls: LockClass): Promise<HeldLock> => ld.acquire(cls, 'write', { wait: 'async' });
  const round = async (): Promise<void> => {
    const a = await lock(A);
    const b = await lock(B);
    const c = await lock(C);
    assert.ok(ld.isHeld(A) && ld.isHeld(B) && ld.isHeld(C));
    ld.release(c);
    ld.release(b);
    ld.release(a);
  };
  await round();
  const first = chainStats.validations;
  assert.ok(first >= 3, `the first round validates its chains (${first})`);
  for (let i = 0; i < 200; i++) await round();
  assert.equal(chainStats.validations, first, 'no validation in the steady state');
  assert.equal(ld.isHeld(A), false);
  assert.deepEqual(lockdep.reports(), []);
  lockdep.disable();
});

test('the cache table: many distinct keys survive growth, colliding first hashes are told apart', () => {
  for (let i = 0; i < 5000; i++) chainAdd((i * 7919) & 0x3fffffff, i);
  for (let i = 0; i < 5000; i++) assert.equal(chainSeen((i * 7919) & 0x3fffffff, i), true);
  assert.equal(chainSeen(7919, 2), false, 'same first hash, other second hash: a miss');
  chainAdd(7919, 2);
  assert.equal(chainSeen(7919, 2), true);
  assert.equal(chainSeen(7919, 1), true, 'both entries with the same first hash are kept');
  lockdep.reset();
  assert.equal(chainSeen(7919, 1), false, 'reset forgets every chain');
});

test('the per-class memo: a class taken in two places validates both, and reset forgets it', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [P, Q, M] = ['memo.P', 'memo.Q', 'memo.M'].map((n) => lockdep.lockClass(n)) as [LockClass, LockClass, LockClass];
  const under = (outer: LockClass): void => {
    lockdep.acquire(outer);
    lockdep.acquire(M);
    lockdep.release(M);
    lockdep.release(outer);
  };
  under(P); // P, P+M
  const v = chainStats.validations;
  under(P);
  assert.equal(chainStats.validations, v, 'P+M again: served (memo)');
  under(Q); // Q, Q+M: M's memo says "on top of P", so Q+M must not be taken for cached
  assert.equal(chainStats.validations, v + 2, 'Q and Q+M are new chains');
  under(P);
  under(Q);
  assert.equal(chainStats.validations, v + 2, 'alternating places: both served from the table');
  // M then P closes a cycle with the edge P -> M that the memoized chain recorded
  lockdep.acquire(M);
  lockdep.acquire(P);
  lockdep.release(P);
  lockdep.release(M);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular']);
  lockdep.reset();
  under(P);
  assert.equal(chainStats.validations, 2, 'after reset the memo does not vouch for P+M: validated again');
  lockdep.disable();
});
