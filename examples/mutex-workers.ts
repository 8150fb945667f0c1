/*
 * Mutex: one lock for worker threads and async tasks alike, in any mix of lock() and lockSync(),
 * and robust: a worker that dies holding it hands the next owner `ownerDied: true`.
 *
 *   node dist/examples/mutex-workers.js
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Domain } from 'quiesce';

if (isMainThread) {
  const domain = Domain.create({ name: 'mutex-example' });
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const mutex = domain.mutex('counter');
  const workers = [1, 2].map(() => domain.spawn(new URL(import.meta.url), { workerData: { counter: counter.buffer, n: 2000 } }));
  const exited = Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r)))); // armed before they can exit
  // 20 async tasks on this thread compete with the workers' lockSync()
  await Promise.all(
    Array.from({ length: 20 }, () =>
      (async () => {
        for (let i = 0; i < 100; i++) {
          await mutex.withLock(async () => {
            const v = counter[0]!; // a plain read-modify-write, made safe by the lock
            await Promise.resolve();
            counter[0] = v + 1;
          });
        }
      })(),
    ),
  );
  await exited;
  console.log(`counter = ${counter[0]} (expected ${2 * 2000 + 20 * 100})`);

  // A worker that dies while holding the mutex:
  const crasher = domain.spawn(new URL(import.meta.url), { workerData: { hold: true } });
  await new Promise((r) => crasher.once('message', r));
  await crasher.terminate();
  const g = await mutex.lock({ timeoutMs: 5000 });
  console.log(`after the owner died: ownerDied = ${g.ownerDied}`);
  g.unlock();
} else {
  const domain = Domain.attach();
  const mutex = domain.mutex('counter');
  if (workerData.hold) {
    mutex.lockSync();
    parentPort!.postMessage('holding');
  } else {
    const counter = new Int32Array(workerData.counter as SharedArrayBuffer);
    for (let i = 0; i < workerData.n; i++) {
      using _g = mutex.lockSync(); // unlocked when the block ends
      counter[0]!++;
    }
  }
}
