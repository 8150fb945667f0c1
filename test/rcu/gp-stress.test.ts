/*
 * The cardinal sin, checked with real workers: no grace period ends while a reader that began
 * before it is still inside. Two workers read an index published in shared memory (RCU: short
 * synchronous sections; SRCU: sections across an await) and check that the object it names is
 * not freed, before and after a delay inside the section. This thread keeps republishing and
 * frees the old object only after a grace period, by every update-side path: synchronize(),
 * synchronizeExpedited(), synchronizeSync(), call(), and pollState() on a getState() cookie.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, workerPool } from '../helpers.js';

const MS = 1500; // readers run this long
const K = 64; // objects; one is reused only K updates after it was unpublished

describe('grace periods under load: no reader ever sees its object freed', () => {
  let d: Domain;
  let pool: ReturnType<typeof workerPool>;
  before(() => {
    d = Domain.create({ name: 'gp-stress', maxThreads: 6 });
    pool = workerPool(d, 'rcu-gp-review-worker');
  });
  after(() => pool.stop());

  async function run(readers: Worker[], args: Record<string, unknown>, update: (freeOld: () => void) => Promise<void>): Promise<number> {
    const a = new Int32Array(new SharedArrayBuffer((16 + K) * 4));
    const done = readers.map((w) => call(w, 'stressRead', { sab: a.buffer, ms: MS, ...args }, MS + 10000));
    let finished = false;
    void Promise.all(done).then(() => (finished = true), () => (finished = true));
    let cur = 0;
    let updates = 0;
    while (!finished) {
      const next = (cur + 1) % K;
      Atomics.store(a, 16 + next, 0);
      const old = cur;
      Atomics.store(a, 0, next); // publish
      cur = next;
      await update(() => Atomics.store(a, 16 + old, 1)); // free the old object after a grace period
      updates++;
      await new Promise((r) => setImmediate(r)); // let the readers' replies in, however fast the updates
    }
    await Promise.all(done);
    assert.ok(Atomics.load(a, 2) > 10, 'readers ran');
    assert.equal(Atomics.load(a, 1), 0, 'a reader saw the object it found published freed inside its section');
    return updates;
  }

  it('RCU: synchronize / synchronizeExpedited / synchronizeSync / call / pollState', async () => {
    const readers = [await pool.spawn(), await pool.spawn()];
    let i = 0;
    const updates = await run(readers, { spinMs: 0.2 }, async (freeOld) => {
      switch (i++ % 5) {
        case 0:
          await d.rcu.synchronize();
          return freeOld();
        case 1:
          await d.rcu.synchronizeExpedited();
          return freeOld();
        case 2:
          d.rcu.synchronizeSync();
          return freeOld();
        case 3:
          await new Promise<void>((r) => d.rcu.call(() => (freeOld(), r())));
          return;
        default: {
          const c = d.rcu.getState();
          while (!d.rcu.pollState(c)) await new Promise((r) => setImmediate(r));
          return freeOld();
        }
      }
    });
    assert.ok(updates > 10, `updates ${updates}`);
  });

  it('SRCU: synchronize / synchronizeSync / call, readers across an await', async () => {
    const s = d.srcu('gp-stress');
    const readers = [await pool.spawn(), await pool.spawn()];
    let i = 0;
    const updates = await run(readers, { srcu: 'gp-stress' }, async (freeOld) => {
      switch (i++ % 3) {
        case 0:
          await s.synchronize();
          return freeOld();
        case 1:
          s.synchronizeSync();
          return freeOld();
        default:
          await new Promise<void>((r) => s.call(() => (freeOld(), r())));
      }
    });
    assert.ok(updates > 10, `updates ${updates}`);
  });
});
