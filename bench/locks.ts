/*
 * Lock benchmarks (issue: locks).
 *  - uncontended Mutex lock()/unlock() vs async-mutex's runExclusive (the async lock users have
 *    today): target at least 1x, i.e. no slower;
 *  - Mutex lockSync()/unlock() vs a bare Atomics compareExchange+store pair: what quiesce adds on
 *    top of the floor (no target; reported);
 *  - PercpuRwSem read pair vs RwSem read pair: target at least 5x cheaper.
 */
import { Mutex as AsyncMutex } from 'async-mutex';
import { Domain } from '../src/index.js';
import { consume, measureAsyncLoopPair, measurePair, row, type Row } from './harness.js';

export async function benchLocks(): Promise<Row[]> {
  const d = Domain.create({ name: 'bench-locks', maxThreads: 4 });
  const m = d.mutex('bench.mutex');
  const am = new AsyncMutex();
  const r1 = await measureAsyncLoopPair(
    async (n) => {
      for (let i = 0; i < n; i++) (await m.lock()).unlock();
    },
    async (n) => {
      for (let i = 0; i < n; i++) await am.runExclusive(() => undefined);
    },
  );
  const r2 = await measureAsyncLoopPair(
    async (n) => {
      for (let i = 0; i < n; i++) await m.withLock(() => undefined);
    },
    async (n) => {
      for (let i = 0; i < n; i++) await am.runExclusive(() => undefined);
    },
  );
  const word = new Int32Array(new SharedArrayBuffer(64));
  const r3 = measurePair(
    (n) => {
      for (let i = 0; i < n; i++) m.lockSync().unlock();
      consume(n);
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        while (Atomics.compareExchange(word, 0, 0, 1) !== 0);
        Atomics.store(word, 0, 0);
      }
      consume(n);
    },
    100_000,
  );
  const pr = d.percpuRwsem('bench.percpu');
  const rw = d.rwsem('bench.rwsem');
  const r4 = measurePair(
    (n) => {
      for (let i = 0; i < n; i++) pr.tryRead()!.unlock();
      consume(n);
    },
    (n) => {
      for (let i = 0; i < n; i++) rw.tryRead()!.unlock();
      consume(n);
    },
    200_000,
  );
  d.detach();
  return [
    row('locks', 'Mutex lock()+unlock(), uncontended', r1.figure, 'async-mutex runExclusive', r1.baseline, 'ns', { kind: 'cheaper', x: 1 }),
    row('locks', 'Mutex withLock(fn), uncontended', r2.figure, 'async-mutex runExclusive', r2.baseline, 'ns', { kind: 'cheaper', x: 1 }),
    row('locks', 'Mutex lockSync()+unlock(), uncontended', r3.figure, 'bare CAS+store lock pair', r3.baseline, 'ns', { kind: 'info', x: 0 }, 'no target in the issue; reported'),
    row('locks', 'PercpuRwSem read pair', r4.figure, 'RwSem read pair', r4.baseline, 'ns', { kind: 'cheaper', x: 5 }),
  ];
}
