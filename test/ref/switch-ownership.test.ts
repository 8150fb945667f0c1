/*
 * Who ends a PercpuRef switch (percpu-ref.ts header, "switch ownership"):
 *  - a thread that detach()es completes the switches it owns first (a detached thread's async
 *    driver must not race a takeover by another thread: the switch would be ended twice, dropping
 *    its reference twice: a release while a reference is still held, SPEC §4);
 *  - a switch whose owner is blocked in one of quiesce's own *Sync waits (OFFLINE) is taken over
 *    by a drain on another thread (SPEC §3: such a thread never holds anything up; the kernel's
 *    switch completes from an RCU callback, independently of the killer);
 *  - the end is exclusive: of two drivers racing to end one switch, exactly one ends it;
 *  - a stale owner (its switch taken over while it was blocked) neither takes its lost run for the
 *    end of the switch, nor folds a later switch with that run's old grace period, nor forgets a
 *    later switch of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, PercpuRef } from '../../src/index.js';
import { PR_SWITCHER, PR_SW_SLOT_MASK } from '../../src/domain/layout.js';
import { call, fixture, nextMessage, sleep, until, withTimeout } from '../helpers.js';

async function spawnWorker(d: Domain): Promise<Worker> {
  const w = d.spawn(fixture('ref-worker'));
  await nextMessage(w, (x) => x.event === 'ready');
  return w;
}

describe('PercpuRef switch ownership', () => {
  it('kill() then detach() on a worker: the ref is not released while another thread still holds a reference', async () => {
    const d = Domain.create({ name: 'ref-own-detach', maxThreads: 4 });
    const w = await spawnWorker(d);
    const s = await spawnWorker(d);
    try {
      const ref = d.percpuRef('r');
      ref.get(); // this thread holds one reference throughout
      // A worker that runs synchronously (no quiescent state) holds the kill's grace period up, so
      // the killer's switch is still in flight when it detaches.
      await call(s, 'spin', { ms: 600 });
      const r = await call(w, 'killDetach', { name: 'r', keepMs: 1500 });
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      let res = 'ok';
      try {
        await ref.drain({ timeoutMs: 1200 });
      } catch (e) {
        res = (e as { code?: string }).code ?? String(e);
      }
      await sleep(50);
      const st = ref.inspect();
      assert.equal(st.releases, 0, `released although this thread still holds a reference (drain: ${res}; state ${JSON.stringify(st)})`);
      assert.equal(st.mode, 'atomic', 'the detached killer completed its switch');
      assert.equal(st.count, 1, 'the count is exactly the reference this thread holds');
      assert.equal(res, 'ERR_TIMEOUT');
      ref.put();
      assert.equal(ref.inspect().releases, 1);
    } finally {
      await w.terminate();
      await s.terminate();
    }
  });

  for (const [how, sync] of [
    ['kill', true],
    ['kill', false],
    ['killAll', true],
    ['killAll', false],
  ] as const) {
    it(`${sync ? 'drainSync' : 'drain'}() on another thread ends a ${how}() switch whose owner is blocked in completion.waitSync`, async () => {
      const d = Domain.create({ name: `ref-own-blocked-${how}-${sync}`, maxThreads: 4 });
      const w = await spawnWorker(d);
      try {
        const ref = d.percpuRef('r');
        const c = d.completion('done');
        const f = new Int32Array(new SharedArrayBuffer(16));
        const reply = call<{ res: string; ms: number }>(w, 'drainWhenReleased', { name: 'r', sab: f.buffer, sync, timeoutMs: 2000, complete: 'done' });
        await until(() => Atomics.load(f, 0) === 1, 5000, 'worker parked');
        // The worker is parked ONLINE outside quiesce: the switch this thread now owns (an async
        // driver here) needs a grace period that waits for it.
        let batch: Promise<void> | undefined;
        if (how === 'kill') ref.kill();
        else batch = PercpuRef.killAll([ref]); // marks now, folds in an async continuation here
        Atomics.store(f, 1, 1);
        Atomics.notify(f, 1);
        // Blocked (OFFLINE) until the worker's drain has returned and completed `c`.
        let mainWait = 'ok';
        const t0 = performance.now();
        try {
          c.waitSync({ timeoutMs: 3000 });
        } catch (e) {
          mainWait = (e as { code?: string }).code ?? String(e);
        }
        const blockedMs = Math.round(performance.now() - t0);
        const r = await withTimeout(reply, 5000, 'worker reply');
        if (batch) await withTimeout(batch, 5000, 'killAll');
        assert.equal(r.res, 'ok', `worker ${sync ? 'drainSync' : 'drain'}(): ${r.res} after ${r.ms} ms while the switch owner was blocked`);
        assert.equal(mainWait, 'ok');
        assert.ok(blockedMs < 1500, `the owner stayed blocked ${blockedMs} ms`);
        await sleep(20); // this thread's (now stale) switch driver runs: it must neither fold nor drop again
        const st = ref.inspect();
        assert.deepEqual({ mode: st.mode, count: st.count, releases: st.releases }, { mode: 'atomic', count: 0, releases: 1 });
      } finally {
        await w.terminate();
      }
    });
  }

  it('a drain that times out while a switch is in flight names the switch and its owner, not "no thread holds a reference"', async () => {
    const d = Domain.create({ name: 'ref-own-text', maxThreads: 4 });
    const s = await spawnWorker(d);
    try {
      const ref = d.percpuRef('r');
      await call(s, 'spin', { ms: 400 }); // holds the kill's grace period up: the switch stays in flight
      ref.kill();
      const e = await ref.drain({ timeoutMs: 100 }).then(
        () => null,
        (x: Error) => x,
      );
      assert.ok(e, 'drain timed out');
      assert.match(e.message, /switch to atomic mode.*in flight/);
      assert.match(e.message, /thread 0/);
      await withTimeout(ref.drain({ timeoutMs: 3000 }), 4000, 'drain after the spin');
    } finally {
      await s.terminate();
    }
  });

  it('stress: an owner blocked for a few ms and a taker race to end the same switch, 150 rounds: one release each, never early', async () => {
    const d = Domain.create({ name: 'ref-own-race', maxThreads: 4 });
    const x = await spawnWorker(d);
    const y = await spawnWorker(d);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const rounds = 150;
      for (let i = 1; i <= rounds; i++) d.percpuRef(`race-${i}`); // created here: the workers only look them up
      const ctl = new Int32Array(new SharedArrayBuffer(16));
      const args = { ctl: ctl.buffer, rounds, prefix: 'race-' };
      const [ro, rt] = await withTimeout(
        Promise.all([call(x, 'raceOwner', { ...args, seed: 7 }, 30000), call(y, 'raceTaker', { ...args, seed: 11 }, 30000)]),
        30000,
        'race rounds',
      );
      for (const r of [ro, rt]) assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(ro.errors, []);
      assert.deepEqual(rt.errors, []);
      assert.equal(rt.early, 0, 'a ref was released while the taker still held a reference');
      for (let i = 1; i <= rounds; i++) {
        const st = d.percpuRef(`race-${i}`).inspect();
        assert.deepEqual({ i, count: st.count, releases: st.releases, mode: st.mode }, { i, count: 0, releases: 1, mode: 'atomic' });
      }
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
      await x.terminate();
      await y.terminate();
    }
  });
  /*
   * A stale owner: worker A starts a switch and blocks OFFLINE (completion.waitSync) while another
   * thread takes the switch over; the parent then wakes A (completes `wake`). Worker C's spinFlag
   * holds the grace periods up for a while (f[3] = 1 once it stops), so "too early" is observable.
   */
  async function staleOwner(
    name: string,
    run: (x: { d: Domain; ref: PercpuRef; A: Worker; B: Worker; C: Worker; f: Int32Array; wake: () => void; started: Promise<any> }) => Promise<void>,
    cmd: string,
    args: Record<string, unknown> = {},
  ): Promise<void> {
    const d = Domain.create({ name, maxThreads: 8 });
    const [A, B, C] = await Promise.all([spawnWorker(d), spawnWorker(d), spawnWorker(d)]);
    try {
      const ref = d.percpuRef('r', { allowReinit: true });
      const f = new Int32Array(new SharedArrayBuffer(16));
      const c = d.completion('wake');
      const started = call(A, cmd, { name: 'r', opts: { allowReinit: true }, sab: f.buffer, wake: 'wake', ...args }, 20000);
      await run({ d, ref, A, B, C, f, wake: () => c.complete(), started });
    } finally {
      await Promise.all([A.terminate(), B.terminate(), C.terminate()]);
    }
  }

  it('a stale owner: switchToAtomic() does not resolve before the switch that took over its run has folded', async () => {
    await staleOwner('ref-own-stale-sta', async ({ d, ref, B, C, f, wake, started }) => {
      const slotB = (await call(B, 'slot')).slot as number;
      await until(() => Atomics.load(f, 0) === 1, 5000, 'A blocked');
      await d.rcu.synchronize({ timeoutMs: 5000 }); // A's claim-time grace period is over
      await call(C, 'spinFlag', { sab: f.buffer, idx: 3, ms: 700 }); // holds B's takeover GP up
      const rb = call(B, 'switchToAtomic', { name: 'r', opts: { allowReinit: true } }, 20000);
      await until(() => (Atomics.load(ref.i32, ref.h + PR_SWITCHER) & PR_SW_SLOT_MASK) === slotB + 1, 5000, 'B took the switch over');
      wake();
      const a = await withTimeout(started, 20000, 'A');
      assert.equal(a.error, undefined, JSON.stringify(a));
      assert.equal((await withTimeout(rb, 20000, 'B')).mode, 'atomic');
      assert.deepEqual(a.atP2, { mode: 'atomic', spinDone: 1 }, `A's second switchToAtomic() resolved while the switch was in flight: ${JSON.stringify(a)}`);
      assert.deepEqual([a.r1, a.r2, a.mode], ['ok', 'ok', 'atomic']);
    }, 'staleSwitchToAtomic');
  });

  it('a stale adopted killAll run does not fold a later killAll of the same thread before its grace period', async () => {
    await staleOwner('ref-own-aba-batch', async ({ B, C, f, wake, started }) => {
      // C holds grace periods up from before A's killAll (A waits for flag 1) until A blocks (flag 0),
      // so A's short drainSync times out whatever the machine's load.
      await call(C, 'spinFlag', { sab: f.buffer, idx: 2, ms: 10000, until: 0, startIdx: 1 });
      await until(() => Atomics.load(f, 0) === 1, 5000, 'A blocked');
      const rb = await call(B, 'drain', { name: 'r', opts: { allowReinit: true }, timeoutMs: 5000 }, 8000); // takes A's switch over
      assert.equal(rb.error, undefined, JSON.stringify(rb));
      const rr = await call(B, 'resurrect', { name: 'r', opts: { allowReinit: true } });
      assert.equal(rr.mode, 'percpu', JSON.stringify(rr));
      await call(C, 'spinFlag', { sab: f.buffer, idx: 3, ms: 700 }); // holds killAll #2's GP up
      await sleep(10);
      wake();
      const a = await withTimeout(started, 20000, 'A');
      assert.equal(a.error, undefined, JSON.stringify(a));
      assert.equal(a.ds, 'ERR_TIMEOUT', 'the drainSync adopted the mark and timed out');
      assert.equal(a.early, '', 'killAll #2 folded/released before its grace period');
      assert.deepEqual([a.r1, a.r2, a.st.mode, a.st.releases], ['ok', 'ok', 'atomic', 2]);
    }, 'abaOwner', { drainMs: 40 });
  });

  for (const useKillAll of [false, true]) {
    it(`a stale ${useKillAll ? 'killAll' : 'kill'} run does not make its thread forget its next switch (drainSync drives it)`, async () => {
      await staleOwner(`ref-own-clobber-${useKillAll}`, async ({ B, C, f, wake, started }) => {
        await until(() => Atomics.load(f, 0) === 1, 5000, 'A blocked');
        const rb = await call(B, 'drain', { name: 'r', opts: { allowReinit: true }, timeoutMs: 5000 }, 8000);
        assert.equal(rb.error, undefined, JSON.stringify(rb));
        await call(B, 'resurrect', { name: 'r', opts: { allowReinit: true } });
        await call(C, 'spinFlag', { sab: f.buffer, idx: 3, ms: 250 }); // A's switch's GP waits ~250 ms
        wake();
        const a = await withTimeout(started, 20000, 'A');
        assert.equal(a.error, undefined, JSON.stringify(a));
        assert.equal(a.res, 'ok', `A's drainSync: ${JSON.stringify(a)}`);
        assert.deepEqual([a.p1, a.pS], ['ok', 'ok']);
      }, 'clobber', { useKillAll });
    });
  }

  it('after the token epoch wraps, a new switch is not folded by its thread\'s stale run before its grace period', async () => {
    await staleOwner('ref-own-wrap', async ({ d, B, C, f, wake, started }) => {
      await until(() => Atomics.load(f, 0) === 1, 5000, 'A blocked');
      await d.rcu.synchronize({ timeoutMs: 5000 });
      const rb = await call(B, 'switchToAtomic', { name: 'r', opts: { allowReinit: true } }, 8000); // takes over, ends
      assert.equal(rb.mode, 'atomic', JSON.stringify(rb));
      await call(C, 'spinFlag', { sab: f.buffer, idx: 3, ms: 500 }); // holds A's next GP up
      wake();
      const a = await withTimeout(started, 20000, 'A');
      assert.equal(a.error, undefined, JSON.stringify(a));
      assert.equal(a.sameToken, false, 'the new claim drew its stale run\'s token');
      assert.equal(a.early, '', 'folded before its grace period');
      assert.deepEqual([a.r1, a.r3, a.mode], ['ok', 'ok', 'atomic']);
    }, 'wrap');
  });
});
