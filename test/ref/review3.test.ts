/*
 * PercpuRef behaviours from the third review round, each pinned by a test that failed before its fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, PercpuRef, QuiesceError } from '../../src/index.js';
import { nextMessage, withTimeout } from '../helpers.js';

const worker = new URL('./review-worker.js', import.meta.url);

async function spawnWorker(d: Domain): Promise<Worker> {
  const w = d.spawn(worker);
  await nextMessage(w, (x) => x.event === 'ready');
  return w;
}

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof QuiesceError ? e.code : String(e);
  }
};

describe('PercpuRef (review round 3)', () => {
  it('killAndDrainSync() inside an RCU read section throws ERR_RCU_MISUSE before killing (it used to kill, throw from the grace-period wait, and strand the switch: never released)', async () => {
    const d = Domain.create({ name: 'review3-kads-read', maxThreads: 4 });
    const w = await spawnWorker(d); // online and idle: a grace period needs its next turn
    try {
      const ref = d.percpuRef('r');
      assert.equal(codeOf(() => d.rcu.read(() => ref.killAndDrainSync({ timeoutMs: 2000 }))), 'ERR_RCU_MISUSE');
      assert.equal(ref.isDying(), false, 'nothing was killed');
      assert.equal(ref.inspect().mode, 'percpu');
      await withTimeout(ref.killAndDrain({ timeoutMs: 3000 }), 6000, 'killAndDrain');
      assert.equal(ref.isZero(), true);
      assert.equal(ref.inspect().releases, 1);
    } finally {
      await w.terminate();
    }
  });

  it('drainSync() inside an RCU read section throws ERR_RCU_MISUSE and leaves the killAll of this thread to fold and release the ref (it used to adopt the switch, throw, and strand it)', async () => {
    const d = Domain.create({ name: 'review3-drain-read', maxThreads: 4 });
    const w = await spawnWorker(d);
    try {
      const ref = d.percpuRef('r');
      const all = PercpuRef.killAll([ref], { timeoutMs: 3000 }).then(
        () => 'ok',
        (e: unknown) => (e instanceof QuiesceError ? `${e.code}: ${e.message}` : String(e)),
      );
      // killAll waits for its grace period (the worker's next turn): its fold has not run yet
      assert.equal(ref.inspect().mode, 'switching');
      assert.equal(codeOf(() => d.rcu.read(() => ref.drainSync({ timeoutMs: 2000 }))), 'ERR_RCU_MISUSE');
      assert.equal(await withTimeout(all, 6000, 'killAll'), 'ok');
      assert.equal(ref.isZero(), true);
      assert.equal(ref.inspect().releases, 1);
      ref.drainSync({ timeoutMs: 1000 }); // outside a read section: released, returns at once
    } finally {
      await w.terminate();
    }
  });
});
