/*
 * design/lockdep.md, 'invalid-wait' (the kernel's wait-context check): "a `*Sync` wait while this
 * thread has a lock held across an event-loop turn". A lock taken with lockSync() and kept over an
 * await is held across a turn exactly like one taken with `await lock()` (review finding t04).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Domain, lockdep, type Mutex, type MutexGuard } from '../../src/index.js';
import { sleep } from '../helpers.js';

lockdep.enable({ action: 'collect' });
const d = Domain.create({ name: 'ld-invalid-wait', maxThreads: 2 });

/**
 * A task takes M with `take` and keeps it across turns while another task of this thread blocks in
 * n.lockSync(). warm: first take N alone a few times, so that n.lockSync() below is a cached chain
 * (the engine's steady-state path, context.ts pushCached), which must check the wait context too.
 */
async function scenario(take: (m: Mutex) => Promise<MutexGuard>, m: Mutex, n: Mutex, warm = false): Promise<string[]> {
  lockdep.reset();
  if (warm) for (let i = 0; i < 3; i++) n.lockSync().unlock();
  let release!: () => void;
  const holder = (async () => {
    const g = await take(m);
    await new Promise<void>((r) => (release = r));
    g.unlock();
  })();
  await sleep(5); // the holder is suspended, holding M across an event-loop turn
  n.lockSync().unlock(); // another task of this thread blocks the thread
  release();
  await holder;
  const kinds = lockdep.reports().map((r) => r.kind);
  lockdep.reset();
  return kinds;
}

test('control: M taken with await m.lock() -> invalid-wait', async () => {
  const kinds = await scenario((m) => m.lock(), d.mutex('iw.M1'), d.mutex('iw.N1'));
  assert.ok(kinds.includes('invalid-wait'), `got ${JSON.stringify(kinds)}`);
});

test('M taken with m.lockSync() and held over an await -> invalid-wait too', async () => {
  const kinds = await scenario(async (m) => m.lockSync(), d.mutex('iw.M2'), d.mutex('iw.N2'));
  assert.ok(kinds.includes('invalid-wait'), `got ${JSON.stringify(kinds)}`);
});

test('the same two scenarios with a cached chain for N (the steady-state path) -> invalid-wait', async () => {
  const viaLock = await scenario((m) => m.lock(), d.mutex('iw.M3'), d.mutex('iw.N3'), true);
  assert.ok(viaLock.includes('invalid-wait'), `await lock(): got ${JSON.stringify(viaLock)}`);
  const viaSync = await scenario(async (m) => m.lockSync(), d.mutex('iw.M4'), d.mutex('iw.N4'), true);
  assert.ok(viaSync.includes('invalid-wait'), `lockSync(): got ${JSON.stringify(viaSync)}`);
});

test('L warm outside, then taken inside an RCU read section -> invalid-wait', () => {
  lockdep.reset();
  const l = d.mutex('iw.L');
  for (let i = 0; i < 3; i++) l.lockSync().unlock();
  d.rcu.read(() => l.lockSync().unlock());
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['invalid-wait']);
  lockdep.reset();
});

test('L warm outside, then `await lock()` announced inside an RCU read section -> invalid-wait (the async steady state checks it too)', async () => {
  lockdep.reset();
  const l = d.mutex('iw.LA');
  for (let i = 0; i < 3; i++) (await l.lock()).unlock();
  let p!: Promise<MutexGuard>;
  d.rcu.read(() => {
    p = l.lock(); // announced (and checked) synchronously, inside the section
  });
  (await p).unlock();
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['invalid-wait']);
  lockdep.reset();
});

test('a chain cached inside an RCU read section (by an annotation): lock() and lockSync() there are still invalid-wait', async () => {
  const l = d.mutex('iw.LR');
  // Annotations (lockdep.acquire) record the chain [rcu, L] and L's usage bit: the acquisition below
  // is then a memo hit inside the section, and the steady-state path must see the section itself.
  const warm = (wait: 'sync' | 'async'): number => {
    lockdep.reset();
    for (let i = 0; i < 3; i++) {
      d.rcu.read(() => {
        lockdep.acquire(l.lockdepClass, { wait });
        lockdep.release(l.lockdepClass);
      });
    }
    return lockdep.reports().length;
  };
  let n = warm('async');
  let p!: Promise<MutexGuard>;
  d.rcu.read(() => {
    p = l.lock();
  });
  (await p).unlock();
  assert.deepEqual(lockdep.reports().slice(n).map((r) => r.kind), ['invalid-wait'], 'await lock()');
  n = warm('sync');
  d.rcu.read(() => l.lockSync().unlock());
  assert.deepEqual(lockdep.reports().slice(n).map((r) => r.kind), ['invalid-wait'], 'lockSync()');
  lockdep.reset();
});

test('a lockSync() hold kept by one timer callback, then a cached lockSync() in the next one -> invalid-wait', async () => {
  lockdep.reset();
  const m = d.mutex('iw.TM');
  const n = d.mutex('iw.TN');
  for (let i = 0; i < 3; i++) n.lockSync().unlock();
  let g: MutexGuard | null = null;
  await new Promise<void>((resolve) => setTimeout(() => ((g = m.lockSync()), resolve()), 1));
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      n.lockSync().unlock(); // nothing held by this context, [N] is cached: M still crosses a turn
      g!.unlock();
      resolve();
    }, 1),
  );
  const kinds = lockdep.reports().map((r) => r.kind);
  assert.ok(kinds.includes('invalid-wait'), `got ${JSON.stringify(kinds)}`);
  lockdep.reset();
});

test('an `await lock()` hold of this turn: every cached lockSync() after it is invalid-wait, not only the first', async () => {
  lockdep.reset();
  const m = d.mutex('iw.AM');
  const [n1, n2] = [d.mutex('iw.AN1'), d.mutex('iw.AN2')];
  for (let i = 0; i < 3; i++) {
    n1.lockSync().unlock();
    n2.lockSync().unlock();
  }
  await sleep(1);
  const p = m.lock(); // held by the task awaiting p, announced in this turn
  n1.lockSync().unlock(); // finds M (and no hold from an earlier turn: the scan marks this turn quiet)
  n2.lockSync().unlock(); // the quiet turn must not hide M: it is an async hold
  (await p).unlock();
  assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), ['invalid-wait:iw.AM', 'invalid-wait:iw.AM']);
  lockdep.reset();
});

test('nested lockSync within one turn is no invalid-wait', () => {
  lockdep.reset();
  const [a, b] = [d.mutex('iw.A'), d.mutex('iw.B')];
  for (let i = 0; i < 3; i++) {
    const ga = a.lockSync();
    b.lockSync().unlock();
    ga.unlock();
  }
  assert.deepEqual(lockdep.reports().map((r) => r.kind), []);
});

test('cleanup', () => d.detach());
