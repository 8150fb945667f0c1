/*
 * Held locks per context: the thread for synchronous code, the async task for `await` code.
 * The fake primitive below follows the hooks.ts contract exactly: lock() is an async function that
 * announces the acquisition synchronously (before its first await), and unlock() releases the
 * handle from whatever context the guard is in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockdep } from '../../src/lockdep/index.js';
import { ld, type LockClass, type HeldLock } from '../../src/lockdep/hooks.js';

class FakeMutex {
  readonly lockdepClass: LockClass;
  private locked = false;
  private waiters: (() => void)[] = [];
  constructor(name: string) {
    this.lockdepClass = ld.classFor(name);
  }
  async lock(): Promise<{ unlock(): void }> {
    const h: HeldLock | null = ld.on ? ld.acquire(this.lockdepClass, 'write', { wait: 'async', instance: this }) : null;
    while (this.locked) await new Promise<void>((r) => this.waiters.push(r));
    this.locked = true;
    await sleep(1); // a real lock may wait on Atomics.waitAsync
    return {
      unlock: () => {
        ld.release(h);
        this.locked = false;
        this.waiters.shift()?.();
      },
    };
  }
}

const held = (m: { lockdepClass: LockClass }) => ld.isHeld(m.lockdepClass);

test('fan-out: children inherit, siblings do not see each other, the parent does not see children', async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = new FakeMutex('ctx.A');
  const B1 = new FakeMutex('ctx.B1');
  const B2 = new FakeMutex('ctx.B2');
  const seen: Record<string, boolean[]> = {};
  async function child(name: string, mine: FakeMutex, other: FakeMutex) {
    const g = await mine.lock();
    await sleep(5); // both children hold their lock at the same time
    seen[name] = [held(A), held(mine), held(other)];
    await sleep(1);
    seen[name + '.late'] = [held(A), held(mine), held(other)];
    g.unlock();
    seen[name + '.after'] = [held(mine)];
  }
  async function t() {
    const g = await A.lock();
    assert.ok(held(A), 'the task that awaited lock() holds it');
    await Promise.all([child('c1', B1, B2), child('c2', B2, B1)]);
    seen.t = [held(A), held(B1), held(B2)];
    g.unlock();
    seen['t.after'] = [held(A)];
  }
  await t();
  assert.deepEqual(seen.c1, [true, true, false]);
  assert.deepEqual(seen.c2, [true, true, false]);
  assert.deepEqual(seen['c1.late'], [true, true, false]);
  assert.deepEqual(seen['c1.after'], [false]);
  assert.deepEqual(seen.t, [true, false, false]);
  assert.deepEqual(seen['t.after'], [false]);
  const g = lockdep.graph();
  const edges = g.edges.map((e) => `${e.from}->${e.to}`).sort();
  assert.deepEqual(edges, ['ctx.A->ctx.B1', 'ctx.A->ctx.B2'], 'no edge between siblings');
  assert.deepEqual(lockdep.reports(), []);
  assert.equal(held(A), false, 'the caller of t() never held A');
});

test('sibling order does not make a false cycle', async () => {
  lockdep.reset();
  const X = new FakeMutex('ctx.X');
  const Y = new FakeMutex('ctx.Y');
  const take = async (m: FakeMutex) => {
    const g = await m.lock();
    await sleep(2);
    g.unlock();
  };
  await Promise.all([take(X), take(Y)]);
  await Promise.all([take(Y), take(X)]);
  assert.deepEqual(lockdep.reports(), []);
  assert.deepEqual(lockdep.graph().edges, []);
});

test('a guard can unlock from another context; the holder no longer holds it', async () => {
  lockdep.reset();
  const A = new FakeMutex('ctx.G');
  const g = await A.lock();
  assert.ok(held(A));
  await Promise.resolve().then(async () => {
    await sleep(1);
    g.unlock(); // from a child context
  });
  assert.equal(held(A), false);
  assert.deepEqual(lockdep.reports(), []);
});

test('synchronous annotations are held by the rest of the synchronous code and by children', async () => {
  lockdep.reset();
  const S = lockdep.lockClass('ctx.S');
  lockdep.acquire(S);
  lockdep.assertHeld(S, 'write');
  let inChild = false;
  await Promise.resolve().then(() => {
    inChild = ld.isHeld(S);
  });
  assert.ok(inChild);
  lockdep.release(S);
  lockdep.assertNotHeld(S);
  assert.throws(() => lockdep.assertHeld(S), { code: 'ERR_LOCKDEP' });
  assert.throws(() => lockdep.assertHeld({ lockdepClass: S }), { code: 'ERR_LOCKDEP' });
});

test('handoff removes the entry from its context; adopt puts it into the receiving one', async () => {
  lockdep.reset();
  const R = ld.classFor('ctx.R');
  const h = ld.acquire(R, 'read', { wait: 'sync' });
  assert.ok(ld.isHeld(R, 'read'));
  const token = ld.handoff(h);
  assert.equal(ld.isHeld(R), false, 'handed off');
  const cloned = structuredClone(token);
  let adopted: HeldLock | null = null;
  let heldThere = false;
  await (async () => {
    await sleep(1);
    adopted = ld.adopt(cloned);
    heldThere = ld.isHeld(R, 'read');
  })();
  assert.ok(heldThere);
  assert.equal(ld.isHeld(R), false, 'the adopter, not the original context, holds it');
  ld.release(adopted);
  assert.deepEqual(lockdep.reports(), [], 'adopt adds no edges and no reports');
});

test('a lock held across an await and then taken with a blocking acquire: inconsistent-usage', async () => {
  lockdep.reset();
  const A = new FakeMutex('ctx.U');
  const g = await A.lock();
  g.unlock();
  const h = ld.acquire(A.lockdepClass, 'write', { wait: 'sync' });
  ld.release(h);
  const r = lockdep.reports();
  assert.equal(r.length, 1);
  assert.equal(r[0]!.kind, 'inconsistent-usage');
  assert.match(r[0]!.text, /HELD-ACROSS-AWAIT/);
});

test('a timer callback scheduled under a lock does not hold it: no edge from it', async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = new FakeMutex('ctx.T.A');
  const B = lockdep.lockClass('ctx.T.B');
  const g = await A.lock();
  let inTimer: boolean | undefined;
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      inTimer = held(A);
      lockdep.acquire(B);
      lockdep.release(B);
      resolve();
    }, 1),
  );
  assert.equal(inTimer, false, 'a callback runs later, like a work item: not inside the lock');
  assert.ok(held(A), 'the task itself still holds A');
  g.unlock();
  assert.deepEqual(lockdep.graph().edges, [], 'no A -> B');
  assert.deepEqual(lockdep.reports(), []);
});

test('a long hold stays held by its task and its children after the carrier is retired', async () => {
  lockdep.reset();
  const A = new FakeMutex('ctx.L.A');
  const g = await A.lock();
  await sleep(350); // several lockdep sweeps (engine.ts SWEEP_MS): the carrier is retired meanwhile
  assert.ok(held(A));
  let inChild = false;
  await Promise.all([
    (async () => {
      await sleep(1);
      inChild = held(A);
    })(),
  ]);
  assert.ok(inChild, 'a child started now inherits A');
  g.unlock();
  assert.equal(held(A), false);
  assert.deepEqual(lockdep.reports(), []);
});

test('a .then() made inside lock() before it announces the acquisition does not steal the carrier', async () => {
  lockdep.reset();
  const cls = ld.classFor('ctx.thenFirst');
  const ready = Promise.resolve();
  const lock = async (): Promise<HeldLock> => {
    void ready.then(() => {}); // a derived promise, created in lock()'s turn before the acquire
    const h = ld.acquire(cls, 'write', { wait: 'async' });
    await sleep(1);
    return h;
  };
  const h = await lock();
  assert.ok(ld.isHeld(cls), "the caller awaiting lock()'s own promise holds the lock");
  ld.release(h);
  assert.equal(ld.isHeld(cls), false);
  assert.deepEqual(lockdep.reports(), []);
});

test("lockdep's promise hooks and the application's AsyncLocalStorage both keep working", async () => {
  lockdep.reset();
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const als = new AsyncLocalStorage<number>();
  const A = new FakeMutex('ctx.als.A');
  await als.run(42, async () => {
    const g = await A.lock();
    await sleep(1);
    assert.equal(als.getStore(), 42);
    assert.ok(held(A));
    g.unlock();
    assert.equal(held(A), false);
  });
  assert.deepEqual(lockdep.reports(), []);
});

test('a synchronous acquisition released in a later turn is detected as held across await', async () => {
  lockdep.reset();
  const C = lockdep.lockClass('ctx.C');
  lockdep.acquire(C);
  await sleep(1);
  lockdep.release(C);
  lockdep.acquire(C, { wait: 'sync' });
  lockdep.release(C);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['inconsistent-usage']);
  lockdep.reset();
  lockdep.disable();
});

test('stress: 200 tasks fan out over 5 real mutexes in one global order: no report, nothing left held', { timeout: 60000 }, async () => {
  const { Domain } = await import('../../src/index.js');
  const { debugCounts } = await import('../../src/lockdep/context.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const d = Domain.create({ name: 'ctx-stress', maxThreads: 2 });
  const ms = [0, 1, 2, 3, 4].map((i) => d.mutex(`ctx.stress.${i}`));
  let seed = 12345;
  const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 8) % n;
  let observedWrong = 0;
  const task = async (): Promise<void> => {
    for (let round = 0; round < 5; round++) {
      // a random increasing subset: always the global order 0 < 1 < ... < 4
      const pick = ms.filter(() => rnd(2) === 0);
      const guards = [];
      for (const m of pick) {
        guards.push(await m.lock());
        if (rnd(3) === 0) await Promise.resolve();
        if (rnd(4) === 0) await sleep(0);
      }
      // fan-out: children see what we hold and take nothing of ours
      await Promise.all(
        [0, 1].map(async () => {
          await Promise.resolve();
          for (const m of pick) if (!ld.isHeld(m.lockdepClass)) observedWrong++;
        }),
      );
      for (const m of pick) if (!ld.isHeld(m.lockdepClass)) observedWrong++;
      while (guards.length) guards.pop()!.unlock();
      for (const m of pick) if (ld.isHeld(m.lockdepClass)) observedWrong++;
    }
  };
  await Promise.all(Array.from({ length: 200 }, task));
  assert.equal(observedWrong, 0, 'every task saw exactly its own holds');
  assert.deepEqual(lockdep.reports(), []);
  assert.deepEqual(debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 }, 'no entry or carrier leaked');
  // one inversion among them is still caught
  const g4 = await ms[4]!.lock();
  const g0 = await ms[0]!.lock();
  g0.unlock();
  g4.unlock();
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular']);
  d.detach();
});

test('a guard returned by a helper task: the caller is not counted as holding it (README limitation), no false report; withLock(fn) is', async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const M = new FakeMutex('ctx.ret.M');
  const N = new FakeMutex('ctx.ret.N');
  async function take() {
    return await M.lock();
  }
  const g = await take();
  assert.equal(held(M), false, 'documented limitation: the lock stays with the task that awaited lock()');
  const gn = await N.lock();
  gn.unlock();
  g.unlock(); // not a bad unlock
  assert.deepEqual(lockdep.reports(), []);
  assert.deepEqual(lockdep.graph().edges, [], 'no M -> N order recorded: a missed report, never a false one');
  // the workaround the README gives: acquire in the task that uses the lock, fn runs as its child
  async function withLock<T>(m: FakeMutex, fn: () => Promise<T>): Promise<T> {
    const guard = await m.lock();
    try {
      return await fn();
    } finally {
      guard.unlock();
    }
  }
  await withLock(M, async () => {
    assert.ok(held(M));
    (await N.lock()).unlock();
  });
  assert.deepEqual(lockdep.graph().edges.map((e) => `${e.from}->${e.to}`), ['ctx.ret.M->ctx.ret.N']);
  assert.deepEqual(lockdep.reports(), []);
});

/*
 * The steady-state path (context.ts pushCached for the acquisition, popOwn's LIFO pop for the
 * release) must keep the held-lock bookkeeping exact in every case it hands back to the general
 * path: an out-of-order release, a release from another context, a release in a later turn, a
 * double release, a reset(), a handoff. Locks are taken with ld.acquire(..., { wait: 'sync' }) as
 * lockSync() does, after a warm-up so that every acquisition below is a cached chain.
 */
test('fast-path sync holds released out of order, from another context, or in a later turn: bookkeeping stays exact', async () => {
  const { debugCounts } = await import('../../src/lockdep/context.js');
  const { chainStats } = await import('../../src/lockdep/chains.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [A, B, C] = ['ctx.fast.A', 'ctx.fast.B', 'ctx.fast.C'].map((n) => ld.classFor(n)) as [LockClass, LockClass, LockClass];
  const take = (c: LockClass): HeldLock => ld.acquire(c, 'write', { wait: 'sync' });
  const zero = { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 };
  const nest = (): HeldLock[] => [take(A), take(B), take(C)];
  for (let i = 0; i < 3; i++) for (const h of nest().reverse()) ld.release(h);
  const v = chainStats.validations;
  // out of order: B (a hole in the live array), then C (trims it), then A
  let [a, b, c] = nest();
  ld.release(b!);
  assert.ok(held({ lockdepClass: A }) && !held({ lockdepClass: B }) && held({ lockdepClass: C }));
  ld.release(c!);
  ld.release(a!);
  assert.deepEqual(debugCounts(), zero);
  // FIFO
  [a, b, c] = nest();
  for (const h of [a!, b!, c!]) ld.release(h);
  assert.deepEqual(debugCounts(), zero);
  // the steady state goes on: still served from the cache
  for (const h of nest().reverse()) ld.release(h);
  assert.equal(chainStats.validations, v, 'no chain was validated again');
  assert.deepEqual(lockdep.reports(), []);
  // released by another context (a child task, so in a later turn: each was held across a turn)
  [a, b, c] = nest();
  await Promise.resolve().then(() => {
    ld.release(c!);
    ld.release(b!);
    ld.release(a!);
  });
  assert.equal(held({ lockdepClass: A }), false);
  assert.deepEqual(debugCounts(), zero);
  assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), ['C', 'B', 'A'].map((x) => `inconsistent-usage:ctx.fast.${x}`));
  lockdep.reset();
  // a double release of a popped hold is a bad unlock
  const h = take(A);
  ld.release(h);
  ld.release(h);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['bad-unlock']);
  assert.deepEqual(debugCounts(), zero);
  lockdep.reset();
  // taken in one timer callback, released (LIFO, by its own pop) in a later one: held across a turn
  const W = ld.classFor('ctx.fast.W');
  for (let i = 0; i < 3; i++) ld.release(take(W));
  let w: HeldLock | null = null;
  await new Promise<void>((resolve) => setTimeout(() => ((w = take(W)), resolve()), 1));
  await new Promise<void>((resolve) => setTimeout(() => (ld.release(w), resolve()), 1));
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['inconsistent-usage'], 'W: HELD-ACROSS-AWAIT and SYNC-BLOCKING-ACQUIRE');
  assert.deepEqual(debugCounts(), zero);
  lockdep.reset();
});

test('reset() forgets fast-path holds (their release is balanced); a handed-off fast-path read is adopted elsewhere', async () => {
  const { debugCounts } = await import('../../src/lockdep/context.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = ld.classFor('ctx.fastreset.A');
  const B = ld.classFor('ctx.fastreset.B');
  const take = (c: LockClass, mode: 'write' | 'read' = 'write'): HeldLock => ld.acquire(c, mode, { wait: 'sync' });
  for (let i = 0; i < 3; i++) {
    const a = take(A);
    ld.release(take(B));
    ld.release(a);
  }
  const a = take(A);
  const b = take(B);
  lockdep.reset();
  assert.equal(ld.isHeld(A) || ld.isHeld(B), false);
  const a2 = take(A); // a fresh hold after the reset
  ld.release(b);
  ld.release(a2);
  ld.release(a);
  assert.deepEqual(lockdep.reports(), [], 'the forgotten holds are released silently');
  ld.release(a);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['bad-unlock'], 'once');
  assert.deepEqual(debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 });
  lockdep.reset();
  // handoff of a read taken on the steady-state path, adopted by another task
  for (let i = 0; i < 3; i++) ld.release(take(A, 'read'));
  const outer = take(B);
  const r = take(A, 'read');
  const token = ld.handoff(r);
  assert.equal(ld.isHeld(A), false);
  assert.ok(ld.isHeld(B));
  ld.release(outer);
  let there = false;
  await (async () => {
    await sleep(1);
    const adopted = ld.adopt(structuredClone(token));
    there = ld.isHeld(A, 'read') && !ld.isHeld(B);
    ld.release(adopted);
  })();
  assert.ok(there, 'the adopter holds the read');
  ld.release(r); // the handed-off handle is no longer ours
  assert.deepEqual(lockdep.reports().map((x) => x.kind), ['bad-unlock']);
  assert.deepEqual(debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 });
  lockdep.reset();
});

test('a stack whose top was released under it is not served from the memo of the stack it was', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const [A, B, X, C] = ['ctx.dead.A', 'ctx.dead.B', 'ctx.dead.X', 'ctx.dead.C'].map((n) => ld.classFor(n)) as [LockClass, LockClass, LockClass, LockClass];
  const take = (c: LockClass): HeldLock => ld.acquire(c, 'write', { wait: 'sync' });
  for (let i = 0; i < 3; i++) {
    const hs = [take(A), take(B), take(C)];
    for (const h of hs.reverse()) ld.release(h);
  }
  // C's memo: "on top of A, B". Now B is released out of order, then X, the top, by its own pop:
  // the stack's top is B again, dead. The held stack is A alone, so C under A is a new chain.
  const a = take(A);
  const b = take(B);
  const x = take(X);
  ld.release(b);
  ld.release(x);
  const c = take(C);
  assert.ok(ld.isHeld(A) && !ld.isHeld(B) && ld.isHeld(C));
  ld.release(c);
  ld.release(a);
  assert.ok(lockdep.graph().edges.some((e) => e.from === 'ctx.dead.A' && e.to === 'ctx.dead.C'), 'A -> C recorded');
  const c2 = take(C);
  ld.release(take(A));
  ld.release(c2);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular'], 'C then A closes A -> C -> A');
  lockdep.reset();
});

test("a hold that is its context's top but not the thread's newest live entry leaves the live array exactly", async () => {
  const { debugCounts, liveEntries } = await import('../../src/lockdep/context.js');
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const A = ld.classFor('ctx.slot.A');
  const B = ld.classFor('ctx.slot.B');
  const take = (c: LockClass): HeldLock => ld.acquire(c, 'write', { wait: 'sync' });
  for (let i = 0; i < 3; i++) ld.release(take(A));
  const names = (): string[] => liveEntries().map((e) => e.cls.name);
  const inTimer = (fn: () => void): Promise<void> => new Promise<void>((resolve) => setTimeout(() => (fn(), resolve()), 1));
  let a: HeldLock | null = null;
  let b: HeldLock | null = null;
  let afterA: string[] = [];
  await inTimer(() => (a = take(A))); // the top of this timer's stack
  await inTimer(() => {
    b = take(B); // a newer live entry, in another context (invalid-wait: A crosses a turn)
    ld.release(a); // A: its own stack's unshared top, but not the newest live entry
    afterA = names();
  });
  assert.deepEqual(afterA, ['ctx.slot.B']);
  await inTimer(() => ld.release(b));
  assert.deepEqual(names(), []);
  assert.deepEqual(debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 });
  assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), ['invalid-wait:ctx.slot.A', 'inconsistent-usage:ctx.slot.A', 'inconsistent-usage:ctx.slot.B']);
  lockdep.reset();
});
