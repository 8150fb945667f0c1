/*
 * The hand-back of a killAll mark (percpu-ref.ts header, "hand-back"): every killAll mark of one
 * thread is the same epoch-0 token, so the verdict a taker hands back to a mark must reach the
 * batch whose switch it folded, not an EARLIER batch of the same thread that lost an earlier
 * switch of the same ref and has not looked for its own hand-back yet.
 *
 * Thread A: batch 1 = killAll([r0, r]) blocks; B's drain takes r over and folds it balanced. Batch
 * 1 then waits for r0 (held here) before it looks at r. r is reinit()ed; A puts twice too many on
 * r and runs batch 2 = killAll([r1, r]), blocks; B takes r over again and folds it: imbalance.
 * Batch 2 waits for r1 (held here). Then r0 is put: batch 1 looks at r; then r1: batch 2 does.
 * Batch 2 started the switch whose fold found the imbalance: it must reject, batch 1 must not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { PR_SWITCHER, PR_SW_SLOT_MASK } from '../../src/domain/layout.js';
import { call, spawnReady, until, withTimeout } from '../helpers.js';

describe('PercpuRef.killAll: a taken-over mark hands its imbalance back to its own batch', () => {
  let d: Domain;
  let A: Worker;
  let B: Worker;
  let S: Worker;
  let slotB: number;
  before(async () => {
    d = Domain.create({ name: 'ref-handback-batches', maxThreads: 6 });
    A = await spawnReady(d, 'ref-handback-batches-worker');
    B = await spawnReady(d, 'ref-handback-batches-worker');
    S = await spawnReady(d, 'ref-worker');
    slotB = (await call(B, 'slot')).slot;
  });
  after(async () => {
    await Promise.all([A.terminate(), B.terminate(), S.terminate()]);
    d.detach();
  });

  it("an earlier batch of the same thread does not take a later batch's hand-back", async () => {
    const opts = { allowReinit: true };
    const r0 = d.percpuRef('r0', opts);
    const r1 = d.percpuRef('r1', opts);
    const r = d.percpuRef('r', opts);
    r0.get();
    r1.get();

    // A's killAll(names) (after `excess` puts on r) whose mark of r B's drain takes over while A
    // is blocked; returns A's pending reply and B's (B folded r: its switch has ended).
    const round = async (names: string[], excess: number, wakeName: string): Promise<{ a: Promise<{ res: string }>; b: { res: string } }> => {
      const f = new Int32Array(new SharedArrayBuffer(16)); // [0] A marked, [1] stop the spinner, [2] spinner stopped, [3] A awake
      const wake = d.completion(wakeName);
      await call(S, 'spinFlag', { sab: f.buffer, idx: 2, ms: 8000, until: 1 }); // grace periods wait from here
      const a = call<{ res: string }>(A, 'killAll', { names, opts, excess, sab: f.buffer, wake: wakeName }, 20000);
      try {
        await until(() => Atomics.load(f, 0) === 1, 5000, 'A marked');
        const taken = call<{ res: string }>(B, 'drain', { name: 'r', opts }, 20000);
        await until(() => (Atomics.load(r.i32, r.h + PR_SWITCHER) & PR_SW_SLOT_MASK) === slotB + 1, 5000, 'B took r over');
        wake.complete();
        await until(() => Atomics.load(f, 3) === 1, 5000, 'A awake');
        Atomics.store(f, 1, 1);
        const b = await withTimeout(taken, 10000, 'B');
        return { a, b };
      } finally {
        Atomics.store(f, 1, 1);
        wake.complete();
      }
    };

    const one = await round(['r0', 'r'], 0, 'wake-1');
    assert.equal(one.b.res, 'ok', 'balanced: B folded nothing wrong');
    assert.equal(r.inspect().releases, 1);
    r.reinit();
    const two = await round(['r1', 'r'], 2, 'wake-2');
    assert.equal(two.b.res, 'ERR_REFCOUNT_UNDERFLOW', 'B folded the imbalance');
    r0.put(); // batch 1 looks at r now
    const a1 = await withTimeout(one.a, 10000, 'batch 1');
    r1.put(); // then batch 2
    const a2 = await withTimeout(two.a, 10000, 'batch 2');
    assert.deepEqual([a1.res, a2.res], ['ok', 'ERR_REFCOUNT_UNDERFLOW'], 'batch 1 (balanced), batch 2 (started the switch that found the imbalance)');
  });
});
