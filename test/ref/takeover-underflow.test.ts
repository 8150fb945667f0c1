/*
 * An imbalance found by the fold of a switch to atomic mode (more puts than gets in percpu mode)
 * is reported by the call that started the switch (switchToAtomic, killAndDrain*, killAll: SPEC
 * §4, "caught at the latest when the ref switches to atomic mode, with a report naming the ref"),
 * whether that thread folds it itself or another thread takes the switch over while it is blocked
 * and folds it there (percpu-ref.ts header, "switch ownership"). The warning is emitted once, by
 * the thread that folded.
 *
 * Worker A puts twice on a fresh ref (nobody got anything: its initial reference cannot cover
 * two) and starts the switch. With takeover, A then blocks OFFLINE: in completion.waitSync, or,
 * for killAndDrainSync, in the drain's own grace-period wait. A spinning worker S holds every
 * grace period up until worker B's drain() / switchToAtomic() has taken the switch over (SWITCHER
 * names B) and A is awake again; then B folds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, type PercpuRef, type PercpuRefOptions } from '../../src/index.js';
import { PR_SWITCHER, PR_SW_SLOT_MASK } from '../../src/domain/layout.js';
import { call, spawnReady, until, withTimeout } from '../helpers.js';

type How = 'switchToAtomic' | 'killAndDrain' | 'killAll' | 'killAndDrainSync' | 'killAllDrainSync';

describe('PercpuRef: an imbalance found by a taken-over switch reaches the call that started it', () => {
  let d: Domain;
  let A: Worker;
  let B: Worker;
  let S: Worker;
  let slotB: number;
  let n = 0;
  before(async () => {
    d = Domain.create({ name: 'ref-takeover-underflow', maxThreads: 6 });
    A = await spawnReady(d, 'ref-takeover-underflow-worker');
    B = await spawnReady(d, 'ref-takeover-underflow-worker');
    S = await spawnReady(d, 'ref-worker');
    slotB = (await call(B, 'slot', { name: 'slot-probe' })).slot;
  });
  after(async () => {
    await Promise.all([A.terminate(), B.terminate(), S.terminate()]);
    d.detach();
  });

  for (const how of ['switchToAtomic', 'killAndDrain', 'killAll', 'killAndDrainSync', 'killAllDrainSync'] as How[]) {
    it(`${how}(): without takeover, the caller gets ERR_REFCOUNT_UNDERFLOW and one warning`, async () => {
      const name = `plain-${how}-${++n}`;
      const ref = d.percpuRef(name);
      const f = new Int32Array(new SharedArrayBuffer(16));
      const w0 = (await call(A, 'slot', { name })).warnings as number;
      const a = await call(A, 'start', { name, how, excess: 2, sab: f.buffer, block: false });
      // killAllDrainSync: the drainSync adopted the mark and folded: it reports, killAll only drains
      assert.equal(how === 'killAllDrainSync' ? a.ds : a.res, 'ERR_REFCOUNT_UNDERFLOW', JSON.stringify(a));
      assert.equal(a.warnings - w0, 1, 'one warning');
      assert.equal(ref.inspect().count, how === 'switchToAtomic' ? 1 : 0);
    });

    it(`${how}(): taken over by another thread while blocked, the caller still gets ERR_REFCOUNT_UNDERFLOW; one warning in all`, async () => {
      const name = `taken-${how}-${++n}`;
      const ref = d.percpuRef(name);
      const { a, b, wA, wB } = await takenOver(ref, how, 2);
      assert.equal(b.res, 'ERR_REFCOUNT_UNDERFLOW', `B folded: ${JSON.stringify(b)}`);
      // killAllDrainSync: the mark was taken over before the drainSync could adopt it: the switch
      // stays the batch's, and killAll reports
      assert.equal(a.res, 'ERR_REFCOUNT_UNDERFLOW', `A started the switch: ${JSON.stringify(a)}`);
      assert.deepEqual([wA, wB], [0, 1], 'one warning, by the thread that folded');
      assert.equal(ref.inspect().count, how === 'switchToAtomic' ? 1 : 0);
      assert.equal(ref.inspect().mode, 'atomic');
    });
  }

  it('a hand-back nobody took (a plain kill() taken over) reaches no later switch of the same thread', async () => {
    const name = `leftover-${++n}`;
    const ref = d.percpuRef(name, { allowReinit: true });
    const first = await takenOver(ref, 'kill', 2, { allowReinit: true }); // kill() has no caller to hand the error to
    assert.deepEqual([first.a.res, first.b.res], ['ok', 'ERR_REFCOUNT_UNDERFLOW'], JSON.stringify(first));
    ref.resurrect(); // count 1 again, percpu
    const second = await takenOver(ref, 'switchToAtomic', 0, { allowReinit: true }); // balanced: nothing to report
    assert.deepEqual([second.a.res, second.b.res], ['ok', 'ok'], JSON.stringify(second));
    assert.equal(ref.inspect().count, 1);
  });

  /**
   * A (worker) puts `excess` times and starts `how`, blocking; B takes the switch over while a
   * spinner holds every grace period up; A wakes while B's switch is still in flight; then the grace
   * periods may end. Returns both replies and the warnings each thread emitted meanwhile.
   */
  async function takenOver(ref: PercpuRef, how: How | 'kill', excess: number, opts: PercpuRefOptions = {}): Promise<{ a: any; b: any; wA: number; wB: number }> {
    const name = ref.name;
    const f = new Int32Array(new SharedArrayBuffer(16)); // [0] A started, [1] stop the spinner, [2] spinner stopped, [3] A awake
    const wake = d.completion(`wake-${name}-${++n}`);
    const wA = (await call(A, 'slot', { name, opts })).warnings as number;
    const wB = (await call(B, 'slot', { name, opts })).warnings as number;
    const sync = how === 'killAndDrainSync';
    await call(S, 'spinFlag', { sab: f.buffer, idx: 2, ms: 8000, until: 1 });
    const started = call(A, 'start', { name, opts, how, excess, sab: f.buffer, wake: wake.name, block: !sync }, 15000);
    try {
      await until(() => Atomics.load(f, 0) === 1, 5000, 'A started');
      const taken = call(B, 'take', { name, opts, how: how === 'switchToAtomic' ? 'switchToAtomic' : 'drain' }, 15000);
      await until(() => (Atomics.load(ref.i32, ref.h + PR_SWITCHER) & PR_SW_SLOT_MASK) === slotB + 1, 5000, 'B took the switch over');
      // A wakes while B's switch is still in flight (A's own drivers find their run lost; a
      // drainSync finds the mark gone), then the grace periods may end
      wake.complete();
      if (!sync) await until(() => Atomics.load(f, 3) === 1, 5000, 'A awake');
      Atomics.store(f, 1, 1);
      const b = await withTimeout(taken, 10000, 'B');
      const a = await withTimeout(started, 10000, 'A');
      return { a, b, wA: a.warnings - wA, wB: b.warnings - wB };
    } finally {
      Atomics.store(f, 1, 1);
      wake.complete();
      await started.catch(() => {});
    }
  }
});
