/*
 * RCU across workers: readers look up a config published through a shared pointer word; the
 * updater publishes a new version, waits for a grace period, and only then scribbles over the
 * old one. No reader ever sees the scribble.
 *
 *   node dist/examples/rcu-hot-swap.js
 */
import { isMainThread, workerData, parentPort } from 'node:worker_threads';
import { Domain } from 'quiesce';

const SLOTS = 2; // two versions of a 256-word table
const WORDS = 256;

if (isMainThread) {
  const domain = Domain.create({ name: 'rcu-example' });
  const table = new Int32Array(new SharedArrayBuffer(4 * (1 + SLOTS * WORDS))); // [current, slot0..., slot1...]
  const fill = (slot: number, v: number): void => void table.fill(v, 1 + slot * WORDS, 1 + (slot + 1) * WORDS);
  fill(0, 1);
  Atomics.store(table, 0, 0);
  const workers = [1, 2].map(() => domain.spawn(new URL(import.meta.url), { workerData: { table: table.buffer } }));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r)))); // readers are running

  for (let version = 2; version <= 200; version++) {
    const old = Atomics.load(table, 0);
    const next = 1 - old;
    fill(next, version); // build the new version where no reader can be looking
    Atomics.store(table, 0, next); // publish (rcu_assign_pointer)
    await domain.rcu.synchronize(); // every reader that could see `old` has finished
    fill(old, -1); // now it is safe to destroy the old version
  }
  const torn = await Promise.all(workers.map((w) => new Promise<number>((r) => { w.once('message', r); w.postMessage('stop'); })));
  console.log(`199 hot swaps; readers that saw a destroyed table: ${torn.reduce((a, b) => a + b, 0)}`);
  await Promise.all(workers.map((w) => w.terminate()));
} else {
  const domain = Domain.attach();
  const table = new Int32Array(workerData.table as SharedArrayBuffer);
  let bad = 0;
  let stop = false;
  parentPort!.once('message', () => (stop = true));

  const readBatch = (): void => {
    for (let i = 0; i < 200; i++) {
      domain.rcu.read(() => {
        const slot = Atomics.load(table, 0); // rcu_dereference
        const base = 1 + slot * WORDS;
        for (let pass = 0; pass < 4; pass++) for (let j = 0; j < WORDS; j++) if (table[base + j]! < 0) bad++;
      });
    }
    if (stop) parentPort!.postMessage(bad);
    else setImmediate(readBatch); // back to the event loop: a quiescent state
  };
  readBatch();
  parentPort!.postMessage('reading');
}
