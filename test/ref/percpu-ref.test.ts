import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, PercpuRef, QuiesceError } from '../../src/index.js';
import { call, code, fixture, nextMessage, sleep, withTimeout } from '../helpers.js';
import { PR_EVENTS, PR_WAITERS } from '../../src/domain/layout.js';

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

async function spawnWorker(d: Domain): Promise<{ w: Worker; slot: number }> {
  const w = d.spawn(fixture('ref-worker'));
  const m = await nextMessage(w, (x) => x.event === 'ready');
  return { w, slot: m.slot };
}
function ok<T extends { error?: { code: string; message: string } }>(r: T): T {
  if (r.error) throw new Error(`worker: ${r.error.code}: ${r.error.message}`);
  return r;
}

describe('PercpuRef', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;
  let s1: number;

  before(async () => {
    d = Domain.create({ name: 'ref-test', maxThreads: 8, bytes: 16 << 20 });
    ({ w: w1, slot: s1 } = await spawnWorker(d));
    ({ w: w2 } = await spawnWorker(d));
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('stress: main + 2 workers, random tryGet/tryGetLive and nested get/put, one kill in the middle: one release, never early', async () => {
    // Lost-update argument: every acquisition is balanced by a put, and the ref is released only
    // when COUNT reaches exactly zero. If the fold lost (or double-counted) a per-thread update,
    // the final count would be off by at least one: either it never reaches zero (the drain
    // below times out and `count` is not 0), or it reaches zero while a worker still holds a
    // reference (that worker's next alive check fails, or one of its puts throws
    // ERR_REFCOUNT_UNDERFLOW, reported as a worker error). Updates land on both sides of the
    // switch: before the kill (percpu), during the grace period, and after (atomic).
    const alive = new Int32Array(new SharedArrayBuffer(16)); // [0] alive flag, [1], [2] worker progress
    alive[0] = 1;
    let releases = 0;
    let early = 0;
    const ref = d.percpuRef('stress', {
      onRelease: () => {
        releases++;
        if (ref.inspect().holders.some((h) => h.held > 0)) early++;
        Atomics.store(alive, 0, 0);
      },
    });
    const iters = 120_000; // ~10^6 get/put pairs per worker (about 4 pairs per iteration)
    const p1 = call(w1, 'stress', { name: 'stress', iters, alive: alive.buffer, seed: 17, progress: 1 }, 60_000);
    const p2 = call(w2, 'stress', { name: 'stress', iters, alive: alive.buffer, seed: 91, progress: 2 }, 60_000);
    let mainViolations = 0;
    let mainPairs = 0;
    // Kill in the middle: once both workers have done ~250,000 pairs each (bounded in time).
    const t0 = performance.now();
    let killed = -1;
    for (let i = 0; killed < 0 || i < killed + 50; i++) {
      if (killed < 0 && ((Atomics.load(alive, 1) > 250_000 && Atomics.load(alive, 2) > 250_000) || performance.now() - t0 > 8000)) {
        ref.kill();
        killed = i;
      }
      for (let j = 0; j < 500; j++) {
        if (!(j & 1 ? ref.tryGet() : ref.tryGetLive())) continue;
        if (Atomics.load(alive, 0) !== 1) mainViolations++;
        ref.get();
        ref.put();
        ref.put();
        mainPairs += 2;
      }
      await immediate();
    }
    const [r1, r2] = await Promise.all([p1, p2]);
    ok(r1);
    ok(r2);
    await withTimeout(ref.drain({ timeoutMs: 10_000 }), 15_000, 'drain');
    await sleep(20); // let the creator's watcher run onRelease
    assert.equal(r1.violations + r2.violations + mainViolations, 0, 'a get succeeded on a released object');
    assert.ok(r1.pairs > 250_000 && r2.pairs > 250_000, `workers did ${r1.pairs} and ${r2.pairs} pairs`);
    assert.equal(releases, 1);
    assert.equal(early, 0);
    const st = ref.inspect();
    assert.equal(st.count, 0);
    assert.equal(st.releases, 1);
    assert.deepEqual(st.holders, []);
    assert.equal(ref.isZero(), true);
  });

  it('1000 switchToAtomic/switchToPercpu and killAndConfirm/resurrect cycles under load: the count is exact after each', async () => {
    const ref = d.percpuRef('cycles', { allowReinit: true });
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const holds = [3, 5];
    const loads = [
      call(w1, 'cycleLoad', { name: 'cycles', opts: { allowReinit: true }, ctl: ctl.buffer, hold: holds[0] }, 120_000),
      call(w2, 'cycleLoad', { name: 'cycles', opts: { allowReinit: true }, ctl: ctl.buffer, hold: holds[1] }, 120_000),
    ];
    ref.get(2); // main holds 2
    // wait until both workers hold their references (count >= 1 + 2 + 3 + 5 once folded)
    let epoch = 0;
    const pause = async (): Promise<void> => {
      epoch += 2;
      Atomics.store(ctl, 1, 0);
      Atomics.store(ctl, 0, epoch - 1);
      const t0 = performance.now();
      for (let v = Atomics.load(ctl, 1); v < 2; v = Atomics.load(ctl, 1)) {
        if (performance.now() - t0 > 10_000) throw new Error('workers did not pause');
        const r = Atomics.waitAsync(ctl, 1, v, 100);
        if (r.async) await r.value;
      }
    };
    const resume = (): void => {
      Atomics.store(ctl, 0, epoch);
    };
    await sleep(50);
    const expectedLive = 1 + 2 + holds[0]! + holds[1]!;
    for (let c = 0; c < 1000; c++) {
      if (c % 4 === 3) {
        // kill/resurrect: dead means no initial reference
        await new Promise<void>((r) => ref.killAndConfirm(r));
        await pause();
        const st = ref.inspect();
        assert.equal(st.mode, 'atomic');
        assert.equal(st.count, expectedLive - 1, `cycle ${c}: count after kill`);
        assert.equal(st.holders.reduce((s, h) => s + h.held, 0), expectedLive - 1, `cycle ${c}: per-thread attribution`);
        ref.resurrect();
        assert.equal(ref.inspect().count, expectedLive, `cycle ${c}: count after resurrect`);
        resume();
      } else {
        await ref.switchToAtomic();
        await pause();
        const st = ref.inspect();
        assert.equal(st.mode, 'atomic');
        assert.equal(st.count, expectedLive, `cycle ${c}: count after switchToAtomic`);
        ref.switchToPercpu();
        resume();
      }
    }
    Atomics.store(ctl, 0, -1);
    const rs = await Promise.all(loads);
    rs.forEach(ok);
    ref.put(2);
    await withTimeout(ref.killAndDrain({ timeoutMs: 5000 }), 8000, 'killAndDrain');
    assert.equal(ref.inspect().count, 0);
  });

  it('tryGetLive fails on every thread once the killAndConfirm callback has run', async () => {
    const ref = d.percpuRef('live');
    assert.equal(ok(await call(w1, 'tryGetLive', { name: 'live' })).ok, true);
    assert.equal(ok(await call(w2, 'tryGetLive', { name: 'live' })).ok, true);
    await new Promise<void>((r) => ref.killAndConfirm(r));
    assert.equal(ref.tryGetLive(), false);
    assert.equal(ok(await call(w1, 'tryGetLive', { name: 'live' })).ok, false);
    assert.equal(ok(await call(w2, 'tryGetLive', { name: 'live' })).ok, false);
    assert.equal(ref.isZero(), true);
  });

  it('killAndDrain resolves only after a reference held in another worker is put there', async () => {
    const ref = d.percpuRef('held-elsewhere');
    ok(await call(w1, 'get', { name: 'held-elsewhere' }));
    let done = false;
    const p = ref.killAndDrain({ timeoutMs: 10_000 }).then(() => {
      done = true;
    });
    await sleep(300);
    assert.equal(done, false);
    assert.equal(ref.isDying(), true);
    ok(await call(w1, 'put', { name: 'held-elsewhere' }));
    await withTimeout(p, 5000, 'killAndDrain');
    assert.equal(ref.isZero(), true);
  });

  it('killAndDrainSync drives the switch on this thread and returns once released', () => {
    const ref = d.percpuRef('sync-teardown');
    ref.get();
    ref.put();
    ref.killAndDrainSync({ timeoutMs: 5000 });
    assert.equal(ref.isZero(), true);
  });

  it('a terminated worker holding references: drain with timeoutMs rejects ERR_TIMEOUT naming the dead thread and its count', async () => {
    const { w, slot } = await spawnWorker(d);
    ok(await call(w, 'get', { name: 'orphaned', n: 3 }));
    const ref = d.percpuRef('orphaned');
    await w.terminate();
    await sleep(20);
    ref.kill();
    const err = await ref.drain({ timeoutMs: 300 }).then(
      () => assert.fail('drain resolved'),
      (e: unknown) => e,
    );
    assert.ok(code('ERR_TIMEOUT')(err), String(err));
    const q = err as QuiesceError;
    const details = q.details as { holders: { thread: number; held: number; alive: boolean }[] };
    assert.deepEqual(
      details.holders.map((h) => ({ thread: h.thread, held: h.held, alive: h.alive })),
      [{ thread: slot, held: 3, alive: false }],
    );
    assert.match(q.message, new RegExp(`thread ${slot} \\(threadId \\d+, dead\\) holds 3`));
    // the ref stays usable
    ref.get();
    ref.put();
    assert.equal(ref.inspect().count, 3);
  });

  it('PercpuRef.killAll on 10,000 refs uses at most 2 grace periods and releases them all', async () => {
    const refs: PercpuRef[] = [];
    let released = 0;
    for (let i = 0; i < 10_000; i++) refs.push(d.percpuRef(`many-${i}`, i % 10 === 0 ? { onRelease: () => released++ } : {}));
    for (const r of refs) {
      r.get();
      r.put();
    }
    const gp0 = d.rcu.stats.gracePeriods;
    await withTimeout(PercpuRef.killAll(refs, { timeoutMs: 10_000 }), 15_000, 'killAll');
    const gps = d.rcu.stats.gracePeriods - gp0;
    assert.ok(gps <= 2, `killAll took ${gps} grace periods`);
    assert.ok(refs.every((r) => r.isZero() && r.isDying()));
    for (let i = 0; i < 200 && released < 1000; i++) await sleep(10); // the watchers run as tasks
    assert.equal(released, 1000);
  });

  it('PercpuRef.killAll batch: folds every thread\'s counter, waits only for refs still held, mixes atomic-mode refs, reports an imbalance', async () => {
    // a: a worker holds 2 (percpu) until after killAll starts; b: initAtomic (the ordinary kill path);
    // c: gets on the worker, puts here (per-thread counters of opposite sign sum to 0); e: one put too many.
    const a = d.percpuRef('batch-a');
    const b = d.percpuRef('batch-b', { initAtomic: true });
    const c = d.percpuRef('batch-c');
    const e = d.percpuRef('batch-e');
    ok(await call(w1, 'get', { name: 'batch-a', n: 2 }));
    ok(await call(w1, 'get', { name: 'batch-c', n: 3 }));
    c.put(3);
    b.get();
    b.put();
    e.put(); // drops the initial reference early: the fold finds count -1
    const warnings: string[] = [];
    const onWarn = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarn);
    try {
      let settled = false;
      const p = PercpuRef.killAll([a, b, c, e], { timeoutMs: 10_000 }).then(
        () => assert.fail('killAll resolved despite the imbalance'),
        (err: unknown) => {
          settled = true;
          return err;
        },
      );
      await sleep(200);
      assert.equal(settled, false, 'killAll must wait for the reference the worker holds');
      assert.equal(a.inspect().count, 2);
      assert.ok(c.isZero() && b.isZero() && e.isZero());
      ok(await call(w1, 'put', { name: 'batch-a', n: 2 }));
      const err = await withTimeout(p, 5000, 'killAll');
      assert.ok(code('ERR_REFCOUNT_UNDERFLOW')(err), String(err));
      assert.match((err as Error).message, /batch-e/);
      await immediate();
      assert.ok(warnings.some((m) => m.includes('batch-e')), 'a warning names the ref');
    } finally {
      process.off('warning', onWarn);
    }
    for (const r of [a, b, c, e]) assert.ok(r.isZero() && r.isDying(), r.name);
    // atomic mode afterwards: a worker's tryGet fails on every released ref
    ok(await call(w1, 'tryGetLive', { name: 'batch-a' }));
    assert.equal(a.tryGet(), false);
  });

  it('waiter count: a drain on another worker of a ref killAll killed is woken by the release (releases notify only counted waiters)', async () => {
    // Protocol (percpu-ref.ts header, "wake-ups"): a waiter does WAITERS++ before it loads EVENTS;
    // a release bumps EVENTS and notifies only if WAITERS != 0. If a waiter were not counted (or
    // the release skipped the bump), w2's drain below would sleep in an unsliced 1 s wait
    // (SLICE_MS) and EVENTS would not move; if a waiter forgot to uncount itself, WAITERS would
    // not return to 0.
    const x = d.percpuRef('wake-x');
    const others = Array.from({ length: 50 }, (_, i) => d.percpuRef(`wake-o${i}`));
    const w = (r: PercpuRef, k: number): number => Atomics.load(r.i32, r.h + k);
    ok(await call(w1, 'get', { name: 'wake-x' }));
    assert.equal(w(x, PR_WAITERS), 0);
    const p = PercpuRef.killAll([...others, x], { timeoutMs: 10_000 }); // marks synchronously
    assert.ok(x.isDying());
    const drained = call(w2, 'drain', { name: 'wake-x', timeoutMs: 10_000 }, 15_000);
    // wait until the switch is over and both killAll (this thread) and w2 sleep on EVENTS
    const until = performance.now() + 5000;
    while (x.inspect().mode !== 'atomic' || w(x, PR_WAITERS) < 2) {
      assert.ok(performance.now() < until, `waiters not registered (WAITERS ${w(x, PR_WAITERS)}, mode ${x.inspect().mode})`);
      await sleep(5);
    }
    await sleep(100); // w2 is now in its unsliced wait
    const ev0 = w(x, PR_EVENTS);
    for (const o of others) assert.ok(o.isZero(), o.name); // released by the fold, no holder
    ok(await call(w1, 'put', { name: 'wake-x' })); // the release, on w1
    const t0 = performance.now();
    ok(await withTimeout(drained, 5000, 'w2 drain'));
    const wokeMs = performance.now() - t0;
    assert.ok(wokeMs < 700, `w2's drain was not woken by the release (it returned after ${wokeMs.toFixed(0)} ms, its slice is 1000 ms)`);
    await withTimeout(p, 5000, 'killAll');
    assert.ok(w(x, PR_EVENTS) !== ev0, 'the release bumped EVENTS for its waiters');
    assert.ok(x.isZero());
    assert.equal(w(x, PR_WAITERS), 0, 'every waiter uncounted itself');
  });

  it('PercpuRef.killAll rejects refs of two domains before killing any (each domain has its own grace periods)', async () => {
    const other = Domain.create({ name: 'ref-test-other', maxThreads: 2 });
    try {
      const a = d.percpuRef('two-domains.a');
      const b = other.percpuRef('two-domains.b');
      await assert.rejects(PercpuRef.killAll([a, b]), code('ERR_INVALID_ARG'));
      assert.equal(a.isDying(), false);
      assert.equal(b.isDying(), false);
    } finally {
      other.detach();
    }
  });

  it("onRelease runs only on the creating thread, not on a later occupant of the creator's slot", async () => {
    const other = Domain.create({ name: 'ref-creator-slot', maxThreads: 2 });
    try {
      const first = other.spawn(fixture('ref-creator-worker'), { workerData: { name: 'creator.r', detach: true } });
      const exited = new Promise((r) => first.once('exit', r));
      await nextMessage(first, (x) => x.event === 'detached');
      await withTimeout(exited, 5000, 'first worker exit');
      const second = other.spawn(fixture('ref-creator-worker'), { workerData: { name: 'creator.r' } });
      const ready = await nextMessage<{ slot: number }>(second, (x) => x.event === 'ready');
      assert.equal(ready.slot, 1, 'the second worker took the creator\'s freed slot');
      await other.percpuRef('creator.r').killAndDrain({ timeoutMs: 5000 });
      const r = await call(second, 'report');
      assert.equal(r.released, 0, 'the callback of a thread that did not create the ref ran');
      await second.terminate();
    } finally {
      other.detach();
    }
  });

  it('after detach() every fast path throws ERR_NOT_ATTACHED and writes nothing (the slot may have a new occupant)', () => {
    const other = Domain.create({ name: 'ref-detached-fast-path', maxThreads: 2 });
    const ref = other.percpuRef('detached.fast');
    ref.get();
    const g = ref.hold();
    const before = ref.inspect().count;
    other.detach();
    for (const [op, f] of [
      ['get', () => ref.get()],
      ['put', () => ref.put()],
      ['tryGet', () => ref.tryGet()],
      ['tryGetLive', () => ref.tryGetLive()],
      ['hold', () => ref.hold()],
      ['release', () => g.release()],
    ] as const) {
      assert.throws(f, code('ERR_NOT_ATTACHED'), op);
    }
    // Read through another attachment of the same memory: nothing moved.
    const again = Domain.attach(other.handle);
    try {
      assert.equal(again.percpuRef('detached.fast').inspect().count, before);
    } finally {
      again.detach();
    }
  });

  it('a drainSync on the thread whose killAll is still waiting for its grace period drives that ref itself', async () => {
    const ref = d.percpuRef('killall-then-drainsync');
    const all = PercpuRef.killAll([ref]); // marked now; its fold runs after the grace period, on this thread
    const t0 = performance.now();
    ref.drainSync({ timeoutMs: 5000 }); // used to block until its timeout: the fold needs this thread
    assert.ok(performance.now() - t0 < 2500, `drainSync took ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(ref.isZero(), true);
    await all; // the batch finds the ref done and does not fold it twice
    assert.equal(ref.inspect().releases, 1);
    assert.equal(ref.inspect().count, 0);
  });

  it('drain/killAndDrain honour timeoutMs and signal while this thread owns a switch held up by a busy worker', async () => {
    const ms = 2500;
    const spin = async (): Promise<void> => void ok(await call(w1, 'spin', { ms })); // w1 reports no quiescent state for `ms`
    const r1 = d.percpuRef('owned-switch.timeout');
    r1.get();
    await spin();
    let t0 = performance.now();
    await assert.rejects(r1.killAndDrain({ timeoutMs: 200 }), code('ERR_TIMEOUT'));
    assert.ok(performance.now() - t0 < 1500, `killAndDrain({ timeoutMs: 200 }) took ${(performance.now() - t0).toFixed(0)} ms`);
    const r2 = d.percpuRef('owned-switch.abort');
    r2.get();
    r2.kill(); // this thread owns the switch; its grace period waits for w1
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    t0 = performance.now();
    await assert.rejects(r2.drain({ signal: ac.signal }), code('ERR_ABORTED'));
    assert.ok(performance.now() - t0 < 1500, `aborted drain took ${(performance.now() - t0).toFixed(0)} ms`);
    // nothing lost: once the worker is back, both switches end and the refs release when put
    r1.put();
    r2.put();
    await r1.drain({ timeoutMs: 10_000 });
    await r2.drain({ timeoutMs: 10_000 });
    assert.equal(r1.inspect().releases, 1);
    assert.equal(r2.inspect().releases, 1);
  });

  it('two threads racing resurrect() on one dying ref: exactly one revives it, the other throws ERR_NOT_DYING and changes nothing', async () => {
    for (const opts of [{ initAtomic: true }, { allowReinit: true }]) {
      const name = `racing-resurrect.${opts.initAtomic ? 'atomic' : 'percpu'}`;
      const ref = d.percpuRef(name, opts);
      ref.kill();
      while (ref.inspect().mode === 'switching') await immediate();
      const flags = new Int32Array(new SharedArrayBuffer(8));
      const other = call(w1, 'resurrectWhen', { name, opts, flags: flags.buffer });
      // Force the interleaving: revive() calls allowReinit() between its dying check and taking
      // the new initial reference; hold it there until the worker's resurrect() has returned.
      const self = ref as unknown as { allowReinit(): boolean };
      const allowReinit = Object.getPrototypeOf(ref).allowReinit as () => boolean;
      self.allowReinit = function (this: unknown) {
        Atomics.store(flags, 0, 1);
        Atomics.notify(flags, 0);
        while (Atomics.load(flags, 1) === 0) Atomics.wait(flags, 1, 0, 20);
        return allowReinit.call(this);
      };
      let mine = 'ok';
      try {
        ref.resurrect();
      } catch (e) {
        mine = e instanceof QuiesceError ? e.code : String(e);
      } finally {
        delete (self as { allowReinit?: unknown }).allowReinit;
      }
      const theirs = ok(await other).res;
      assert.deepEqual([theirs, mine], ['ok', 'ERR_NOT_DYING'], `${name}: worker ${theirs}, main ${mine}`);
      while (ref.inspect().mode === 'switching') await immediate();
      assert.equal(ref.inspect().count, 1, `${name}: one initial reference`);
      await ref.killAndDrain({ timeoutMs: 2000 }); // and it can be released again
    }
  });

  it('get(n)/put(n) with an explicit count take the out-of-line path in percpu mode and stay exact', async () => {
    const ref = d.percpuRef('explicit-n');
    ref.get(1);
    ref.get(5);
    ref.put(1);
    assert.equal(ref.tryGet(2), true);
    assert.equal(ref.tryGetLive(1), true);
    assert.equal(ref.inspect().count, 9); // 1 initial + 1 + 5 - 1 + 2 + 1
    ref.put(8);
    assert.throws(() => ref.get(0), code('ERR_INVALID_ARG'));
    assert.throws(() => ref.put(1.5), code('ERR_INVALID_ARG'));
    await ref.killAndDrain({ timeoutMs: 5000 });
    assert.ok(ref.isZero());
  });

  it('lockdep-free guards: hold() is get + release() put; a second release throws ERR_DOUBLE_UNLOCK', () => {
    const ref = d.percpuRef('guarded', { initAtomic: true });
    const g = ref.hold();
    assert.equal(ref.inspect().count, 2);
    g.release();
    assert.equal(ref.inspect().count, 1);
    assert.throws(() => g.release(), code('ERR_DOUBLE_UNLOCK'));
    assert.equal(ref.inspect().count, 1);
    {
      using g2 = ref.hold();
      void g2;
      assert.equal(ref.inspect().count, 2);
    }
    assert.equal(ref.inspect().count, 1);
  });

  describe('errors, each with the count unchanged', () => {
    it('ERR_REFCOUNT_UNDERFLOW at the bad put in atomic mode', () => {
      const ref = d.percpuRef('under', { initAtomic: true });
      ref.put(); // the initial reference: count 0, released
      assert.throws(() => ref.put(), code('ERR_REFCOUNT_UNDERFLOW'));
      assert.equal(ref.inspect().count, 0);
      ref.get(3);
      assert.throws(() => ref.put(4), code('ERR_REFCOUNT_UNDERFLOW'));
      assert.equal(ref.inspect().count, 3);
    });

    it('ERR_REFCOUNT_UNDERFLOW from the switch to atomic for a percpu imbalance, with a warning naming the ref; the ref stays sane', async () => {
      const ref = d.percpuRef('imbalance');
      const warnings: string[] = [];
      const onWarn = (w: Error): void => void warnings.push(w.message);
      process.on('warning', onWarn);
      try {
        ok(await call(w1, 'put', { name: 'imbalance', n: 2 })); // percpu: not detectable yet
        const err = await ref.switchToAtomic().then(
          () => assert.fail('switchToAtomic resolved'),
          (e: unknown) => e,
        );
        assert.ok(code('ERR_REFCOUNT_UNDERFLOW')(err), String(err));
        assert.match((err as Error).message, /PercpuRef 'imbalance'/);
        assert.match((err as Error).message, new RegExp(`thread ${s1} .*put 2 more than it got`));
        await sleep(10);
        assert.ok(warnings.some((w) => w.includes("PercpuRef 'imbalance'")));
      } finally {
        process.off('warning', onWarn);
      }
      assert.equal(ref.inspect().count, 1); // live: its initial reference
      ref.kill();
      await ref.drain({ timeoutMs: 2000 });
      assert.equal(ref.isZero(), true);
    });

    it('ERR_REFCOUNT_OVERFLOW', () => {
      const ref = d.percpuRef('over', { initAtomic: true });
      ref.get(0x7fffffff - 5);
      assert.throws(() => ref.get(10), code('ERR_REFCOUNT_OVERFLOW'));
      assert.throws(() => ref.tryGet(10), code('ERR_REFCOUNT_OVERFLOW'));
      assert.equal(ref.inspect().count, 0x7fffffff - 4);
    });

    it('ERR_REFCOUNT_OVERFLOW during a switch to atomic names the count word, not a wrong count', async () => {
      const ref = d.percpuRef('over-switching');
      const switching = ref.switchToAtomic(); // in flight until its grace period: COUNT holds the bias
      assert.equal(ref.inspect().mode, 'switching');
      assert.throws(() => ref.get(2 ** 30), (e: unknown) => code('ERR_REFCOUNT_OVERFLOW')(e) && /percpu bias/.test((e as Error).message) && !/count 10/.test((e as Error).message));
      await switching;
      assert.equal(ref.inspect().count, 1); // nothing was taken
    });

    it('ERR_ALREADY_DYING on a second kill', async () => {
      const ref = d.percpuRef('twice');
      ref.get();
      ref.kill();
      assert.throws(() => ref.kill(), code('ERR_ALREADY_DYING'));
      assert.throws(() => ref.killAndConfirm(() => {}), code('ERR_ALREADY_DYING'));
      await assert.rejects(PercpuRef.killAll([ref]), code('ERR_ALREADY_DYING'));
      await ref.switchToAtomic();
      assert.equal(ref.inspect().count, 1);
      ref.put();
      await ref.drain({ timeoutMs: 2000 });
    });

    it('ERR_USE_AFTER_EXIT on any use after exit()', () => {
      const ref = d.percpuRef('exited', { initAtomic: true });
      ref.get();
      ref.exit();
      const before = ref.inspect().count;
      for (const f of [() => ref.get(), () => ref.put(), () => ref.tryGet(), () => ref.tryGetLive(), () => ref.kill(), () => ref.isZero(), () => ref.exit(), () => ref.hold()]) {
        assert.throws(f, code('ERR_USE_AFTER_EXIT'));
      }
      assert.equal(ref.inspect().count, before);
      // percpu-mode ref too: the fast path sees the mode word change
      const r2 = d.percpuRef('exited2');
      r2.exit();
      assert.throws(() => r2.get(), code('ERR_USE_AFTER_EXIT'));
      assert.throws(() => r2.drainSync(), code('ERR_USE_AFTER_EXIT'));
    });

    it('ERR_NOT_DYING, ERR_INVALID_ARG, ERR_KIND_MISMATCH', async () => {
      const ref = d.percpuRef('misc', { allowReinit: true });
      await assert.rejects(ref.drain(), code('ERR_NOT_DYING'));
      assert.throws(() => ref.resurrect(), code('ERR_NOT_DYING'));
      for (const n of [0, -1, 1.5, NaN, '2' as unknown as number]) assert.throws(() => ref.get(n), code('ERR_INVALID_ARG'));
      assert.throws(() => d.percpuRef('misc'), code('ERR_KIND_MISMATCH'));
      // a bad timeout is refused before anything changes (it used to kill the ref first)
      await assert.rejects(ref.killAndDrain({ timeoutMs: -1 }), code('ERR_INVALID_ARG'));
      assert.throws(() => ref.killAndDrainSync({ timeoutMs: '100' as unknown as number }), code('ERR_INVALID_ARG'));
      assert.equal(ref.isDying(), false);
      assert.throws(() => d.percpuRef('misc', { allowReinit: true, initAtomic: true }), code('ERR_KIND_MISMATCH'));
      assert.equal(d.percpuRef('misc', { allowReinit: true }), ref);
      const plain = d.percpuRef('no-reinit');
      await plain.switchToAtomic();
      assert.throws(() => plain.switchToPercpu(), code('ERR_INVALID_ARG'));
      assert.equal(plain.inspect().count, 1);
    });
  });

  it('initDead + reinit, and drain/ERR_ABORTED naming holders', async () => {
    const ref = d.percpuRef('lazy', { initDead: true });
    assert.equal(ref.isDying(), true);
    assert.equal(ref.isZero(), true);
    assert.equal(ref.tryGet(), false);
    ref.reinit();
    assert.equal(ref.isDying(), false);
    assert.equal(ref.inspect().mode, 'percpu'); // the kernel's reinit: back to percpu unless forced atomic
    ref.get();
    ref.kill();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await ref.drain({ signal: ac.signal }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(code('ERR_ABORTED')(err), String(err));
    assert.match((err as Error).message, new RegExp(`thread ${d.threadIndex} .* holds 1`));
    ref.put();
    await ref.drain({ timeoutMs: 2000 });
    ref.reinit();
    assert.equal(ref.inspect().count, 1);
  });
});
