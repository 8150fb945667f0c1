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

/*
 * The steady-state path of a blocking acquisition by a primitive (engine.acquire -> context.ts
 * pushCached) answers a memo hit in one small function. The tests below take their locks with
 * ld.acquire(..., { wait }) as the primitives do (lockdep.acquire, the annotation API, goes through
 * doAcquire instead), and pin that the shortcut loses no check of the general path.
 */
const syncTake = (c: LockClass, mode: 'write' | 'read' | 'recursive-read' = 'write'): HeldLock => ld.acquire(c, mode, { wait: 'sync' });

test('ld.acquire sync steady state: validated once, then served without validation, nothing left held', async () => {
  const { debugCounts } = await import('../../src/lockdep/context.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [A, B, C] = ['fast.A', 'fast.B', 'fast.C'].map((n) => ld.classFor(n)) as [LockClass, LockClass, LockClass];
  const round = (): void => {
    const a = syncTake(A);
    const b = syncTake(B);
    const c = syncTake(C, 'read');
    assert.ok(ld.isHeld(A) && ld.isHeld(B) && ld.isHeld(C, 'read'));
    ld.release(c);
    ld.release(b);
    ld.release(a);
  };
  round();
  const first = chainStats.validations;
  assert.equal(first, 3);
  for (let i = 0; i < 1000; i++) round();
  assert.equal(chainStats.validations, first, 'no validation in the steady state');
  assert.equal(ld.isHeld(A), false);
  assert.deepEqual(debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 });
  assert.deepEqual(lockdep.reports(), []);
  lockdep.disable();
});

test('a cached sync chain still reports: B then A after a steady-state A then B, and A under A, B', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = ld.classFor('fast.cyc.A');
  const B = ld.classFor('fast.cyc.B');
  for (let i = 0; i < 10; i++) {
    const a = syncTake(A);
    ld.release(syncTake(B));
    ld.release(a);
  }
  const b = syncTake(B);
  ld.release(syncTake(A));
  ld.release(b);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular']);
  const a = syncTake(A);
  const b2 = syncTake(B);
  ld.release(syncTake(A)); // A, B: the cached chain; A on top of it is not
  ld.release(b2);
  ld.release(a);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular', 'recursive']);
  lockdep.disable();
});

test('a cached chain keeps the read rules: R after R is silent, r after r is recursive', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const R = ld.classFor('fast.rr.R');
  const N = ld.classFor('fast.rr.N');
  for (let i = 0; i < 5; i++) ld.release(syncTake(R, 'recursive-read'));
  const r1 = syncTake(R, 'recursive-read');
  ld.release(syncTake(R, 'recursive-read'));
  ld.release(r1);
  assert.deepEqual(lockdep.reports(), [], 'R(X1) R(X1) -> S');
  for (let i = 0; i < 5; i++) ld.release(syncTake(N, 'read'));
  const n1 = syncTake(N, 'read');
  ld.release(syncTake(N, 'read'));
  ld.release(n1);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['recursive'], 'r(X1) r(X1) -> F');
  // the memo of "R on top of R" does not answer "W on top of R" (same chain below, other mode)
  for (let i = 0; i < 5; i++) {
    const r2 = syncTake(R, 'recursive-read');
    ld.release(syncTake(R, 'recursive-read'));
    ld.release(r2);
  }
  const r3 = syncTake(R, 'recursive-read');
  ld.release(syncTake(R, 'write'));
  ld.release(r3);
  assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), ['recursive:fast.rr.N', 'recursive:fast.rr.R'], 'R(X1) W(X2) -> F');
  lockdep.disable();
});

test('the memo of a recursive read does not answer a write of the same class on the same chain', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = ld.classFor('fast.mode.A');
  const X = ld.classFor('fast.mode.X');
  const nest = (outer: LockClass, om: 'write' | 'read' | 'recursive-read', inner: LockClass, im: 'write' | 'read' | 'recursive-read'): void => {
    const o = syncTake(outer, om);
    ld.release(syncTake(inner, im));
    ld.release(o);
  };
  nest(X, 'recursive-read', A, 'write'); // X -SN-> A
  for (let i = 0; i < 5; i++) nest(A, 'write', X, 'recursive-read'); // A -ER-> X; X's memo: "R on top of A"
  assert.deepEqual(lockdep.reports(), [], 'ER then SN is no deadlock (read/lock ABBA with R)');
  nest(A, 'write', X, 'write'); // A -EN-> X: a new chain, whatever X's memo says
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular'], 'R(X) L(Y); L(Y) W(X) -> F');
  lockdep.disable();
});

test("a memo hit is no usage hit: a class cached by `await lock()` and then taken by a sync wait is inconsistent-usage (and the other way round)", async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const U = ld.classFor('fast.usage.U');
  const lock = async (c: LockClass): Promise<HeldLock> => ld.acquire(c, 'write', { wait: 'async' });
  for (let i = 0; i < 5; i++) ld.release(await lock(U)); // chain [U] cached, U has HELD-ACROSS-AWAIT
  const v = chainStats.validations;
  ld.release(syncTake(U)); // same chain [U]: the memo hits, the usage bit does not
  assert.equal(chainStats.validations, v, 'the chain itself was cached');
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['inconsistent-usage']);
  lockdep.reset();
  const V = ld.classFor('fast.usage.V');
  for (let i = 0; i < 5; i++) ld.release(syncTake(V));
  ld.release(await lock(V));
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['inconsistent-usage']);
  lockdep.disable();
});

test('a trylock memo does not vouch for the blocking acquisition of the same class', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const T = ld.classFor('fast.try.T');
  const t0 = syncTake(T);
  for (let i = 0; i < 5; i++) ld.release(ld.acquire(T, 'write', { wait: 'none', try: true })); // T under T, trylock: silent
  assert.deepEqual(lockdep.reports(), [], 'trylock never causes AA by itself');
  ld.release(syncTake(T)); // T under T, blocking: the trylock's memo must not answer it
  ld.release(t0);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['recursive']);
  lockdep.disable();
});

test('a report listener that resets lockdep during the slow path: the memo vouches for nothing afterwards', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = ld.classFor('fast.lr.A');
  const B = ld.classFor('fast.lr.B');
  const round = (x: LockClass, y: LockClass): void => {
    const hx = syncTake(x);
    ld.release(syncTake(y));
    ld.release(hx);
  };
  for (let i = 0; i < 5; i++) round(A, B);
  let resets = 0;
  const off = lockdep.onReport(() => {
    resets++;
    lockdep.reset(); // e.g. a test harness that starts over on the first report
  });
  try {
    round(B, A); // circular, reported from the slow path of taking A under B; the listener resets
    assert.equal(resets, 1);
    assert.deepEqual(lockdep.reports(), [], 'reset by the listener');
    round(A, B);
    assert.equal(chainStats.validations, 2, 'A and A+B are validated again: nothing is served from before the reset');
    assert.deepEqual(lockdep.graph().edges.map((e) => `${e.from}->${e.to}`), ['fast.lr.A->fast.lr.B']);
    round(B, A); // B and B+A: validated again, the cycle is found again
    assert.equal(resets, 2);
  } finally {
    off();
  }
  assert.deepEqual(lockdep.reports(), []);
  lockdep.disable();
});

test('ld.release(null) and ld.release(undefined) are no-ops (a primitive passes its handle unchecked)', () => {
  lockdep.enable({ action: 'collect' });
  ld.release(null);
  ld.release(undefined as unknown as HeldLock);
  assert.deepEqual(lockdep.reports(), []);
  lockdep.disable();
});

test('recycled sync entries: reused by the next lockSync, and a released guard cannot touch its new holder', async () => {
  const { Domain } = await import('../../src/index.js');
  const { debugPoolSize } = await import('../../src/lockdep/context.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const d = Domain.create({ name: 'ld-recycle', maxThreads: 2 });
  try {
    const [a, b] = [d.mutex('recycle.A'), d.mutex('recycle.B')];
    for (let i = 0; i < 3; i++) {
      const ga = a.lockSync();
      b.lockSync().unlock();
      ga.unlock();
    }
    const pooled = debugPoolSize();
    assert.ok(pooled >= 2, `guards' same-turn releases feed the free list (${pooled})`);
    const ga = a.lockSync();
    assert.equal(debugPoolSize(), pooled - 1, 'the next sync acquisition reuses one');
    ga.unlock();
    const gb = b.lockSync(); // very likely ga's entry, reused
    assert.throws(() => ga.unlock(), { code: 'ERR_DOUBLE_UNLOCK' });
    assert.ok(ld.isHeld(b.lockdepClass), "the stale guard released nothing of b's");
    assert.equal(ld.isHeld(a.lockdepClass), false);
    // The chain cache and the graph still see the reused entries: the inversion is reported.
    const ga2 = a.lockSync(); // B held, then A: closes B -> A against the A -> B above
    ga2.unlock();
    gb.unlock();
    assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular']);
  } finally {
    d.detach();
    lockdep.disable();
  }
});
