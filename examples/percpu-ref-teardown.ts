/*
 * PercpuRef: per-thread reference counts, and a synchronous teardown that waits for every
 * reference wherever it is (seed 000's percpu_ref_exit_sync), then many teardowns sharing one
 * grace period (PercpuRef.killAll).
 *
 *   node dist/examples/percpu-ref-teardown.js
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { Domain, PercpuRef } from 'quiesce';

if (isMainThread) {
  const domain = Domain.create({ name: 'ref-example' });
  let released = 0;
  const queue = domain.percpuRef('queue', { onRelease: () => released++ });
  const worker = domain.spawn(new URL(import.meta.url));
  await new Promise((r) => worker.once('message', r)); // the worker now holds 3 references

  const t0 = performance.now();
  const teardown = queue.killAndDrain({ timeoutMs: 5000 }); // stop new users, wait for the worker's
  worker.postMessage('finish'); // the worker puts its references back after 100 ms
  await teardown;
  console.log(`killAndDrain waited ${Math.round(performance.now() - t0) >= 90 ? 'for' : 'WITHOUT'} the worker's references`);
  await new Promise((r) => setImmediate(r));
  console.log(`onRelease ran ${released} time(s)`);

  // 1000 queues torn down together pay for one grace period, not 1000.
  const many = Array.from({ length: 1000 }, (_, i) => domain.percpuRef(`q${i}`));
  const gp0 = domain.rcu.stats.gracePeriods;
  await PercpuRef.killAll(many);
  console.log(`killAll(1000): ${many.every((r) => r.isZero()) ? 'all released' : 'NOT released'}, ${domain.rcu.stats.gracePeriods - gp0} grace period(s)`);
  await worker.terminate();
} else {
  const domain = Domain.attach();
  const queue = domain.percpuRef('queue');
  queue.get(3); // in flight in this thread
  parentPort!.postMessage('holding');
  parentPort!.once('message', () => setTimeout(() => queue.put(3), 100));
}
