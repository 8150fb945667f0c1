/*
 * Lock micro-benchmarks: the uncontended Mutex against the two things a user would compare it with.
 *
 *   - async lock()/unlock()   vs async-mutex's Mutex.runExclusive (the usual in-process async lock;
 *                                a devDependency, imported dynamically: the row is skipped if absent)
 *   - lockSync()/unlock()     vs a bare Atomics.compareExchange + Atomics.store lock pair (the floor
 *                                for any shared-memory lock: what quiesce adds on top of it)
 *
 * Each measurement runs for a fixed time budget (well under 2 s) after a short warm-up and reports
 * nanoseconds per lock+unlock pair. Lockdep is whatever the process has (normally disabled).
 */
import { Domain } from '../domain/domain.js';

export interface BenchRow {
  name: string;
  figure: number;
  baseline: number;
  unit: string;
  target: string;
}

const BUDGET_MS = 400;

/** ns per operation of a synchronous batch function (`batch(n)` runs n operations). */
function timeSync(batch: (n: number) => void): number {
  batch(2000); // warm-up
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < BUDGET_MS) {
    batch(10000);
    ops += 10000;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / ops;
}

async function timeAsync(batch: (n: number) => Promise<void>): Promise<number> {
  await batch(500);
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < BUDGET_MS) {
    await batch(2000);
    ops += 2000;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / ops;
}

type AsyncMutexModule = { Mutex: new () => { runExclusive<T>(fn: () => T | Promise<T>): Promise<T> } };

/** async-mutex is a devDependency: absent in a production install, then its rows are skipped. */
async function loadAsyncMutex(): Promise<AsyncMutexModule | null> {
  try {
    const spec = 'async-mutex'; // a variable: not resolved at compile time
    return (await import(spec)) as AsyncMutexModule;
  } catch {
    return null;
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;

export async function benchLocks(): Promise<BenchRow[]> {
  const d = Domain.create({ name: 'bench-locks', bytes: 1 << 20, maxThreads: 2 });
  const rows: BenchRow[] = [];
  try {
    const m = d.mutex('bench');

    // bare Atomics lock pair, the floor
    const word = new Int32Array(new SharedArrayBuffer(64));
    const bare = timeSync((n) => {
      for (let i = 0; i < n; i++) {
        if (Atomics.compareExchange(word, 0, 0, 1) !== 0) throw new Error('bench: bare lock contended');
        Atomics.store(word, 0, 0);
      }
    });
    const sync = timeSync((n) => {
      for (let i = 0; i < n; i++) m.lockSync().unlock();
    });
    rows.push({ name: 'Mutex.lockSync()+unlock(), uncontended', figure: round(sync), baseline: round(bare), unit: 'ns/op', target: 'baseline: bare Atomics.compareExchange+store; aim <= 10x' });

    const asyncLock = await timeAsync(async (n) => {
      for (let i = 0; i < n; i++) (await m.lock()).unlock();
    });
    const am = await loadAsyncMutex();
    if (am) {
      const other = new am.Mutex();
      const base = await timeAsync(async (n) => {
        for (let i = 0; i < n; i++) await other.runExclusive(() => undefined);
      });
      const withLock = await timeAsync(async (n) => {
        for (let i = 0; i < n; i++) await m.withLock(() => undefined);
      });
      rows.push({ name: 'Mutex.lock()+unlock(), uncontended', figure: round(asyncLock), baseline: round(base), unit: 'ns/op', target: 'baseline: async-mutex runExclusive; aim <= 2x' });
      rows.push({ name: 'Mutex.withLock(fn), uncontended', figure: round(withLock), baseline: round(base), unit: 'ns/op', target: 'baseline: async-mutex runExclusive; aim <= 2x' });
    } else {
      rows.push({ name: 'Mutex.lock()+unlock(), uncontended (async-mutex not installed: no baseline)', figure: round(asyncLock), baseline: NaN, unit: 'ns/op', target: 'install async-mutex for the baseline' });
    }
  } finally {
    d.detach();
  }
  return rows;
}
