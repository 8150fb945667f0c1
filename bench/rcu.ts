/*
 * RCU benchmarks (issue: foundation).
 *  - read-side pair vs an uncontended Atomics compareExchange+store lock pair: target >= 8x cheaper;
 *  - synchronize() latency with 2 idle workers vs a postMessage ping round trip to both workers
 *    (the physical floor: a grace period needs every worker's event loop to turn once): <= 3x.
 */
import { Domain } from '../src/index.js';
import { consume, measureAsyncPair, measurePair, row, type Row } from './harness.js';

export async function benchRcu(): Promise<Row[]> {
  const d = Domain.create({ name: 'bench-rcu', maxThreads: 4 });
  const rcu = d.rcu;
  const lockWord = new Int32Array(new SharedArrayBuffer(64));
  const r1 = measurePair(
    (n) => {
      for (let i = 0; i < n; i++) {
        rcu.readLock();
        rcu.readUnlock();
      }
      consume(n);
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        while (Atomics.compareExchange(lockWord, 0, 0, 1) !== 0);
        Atomics.store(lockWord, 0, 0);
      }
      consume(n);
    },
    1_000_000,
  );

  const workers = [0, 1].map(() => d.spawn(new URL('./workers/ping.js', import.meta.url)));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const ping = (): Promise<void> =>
    Promise.all(workers.map((w) => new Promise<void>((r) => {
      w.once('message', () => r());
      w.postMessage(1);
    }))).then(() => {});
  const r2 = await measureAsyncPair(() => rcu.synchronize(), ping, 40);
  const r3 = await measureAsyncPair(() => rcu.synchronizeExpedited(), ping, 40);
  await Promise.all(workers.map((w) => w.terminate()));
  return [
    row('rcu', 'readLock+readUnlock pair', r1.figure, 'CAS+store lock pair', r1.baseline, 'ns', { kind: 'cheaper', x: 8 }),
    row('rcu', 'synchronize() latency, 2 workers', r2.figure * 1e3, 'postMessage ping to both', r2.baseline * 1e3, 'us', { kind: 'within', x: 3 }),
    row('rcu', 'synchronizeExpedited() latency, 2 workers', r3.figure * 1e3, 'postMessage ping to both', r3.baseline * 1e3, 'us', { kind: 'within', x: 3 }),
  ];
}
