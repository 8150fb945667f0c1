/*
 * lockdep with the real primitives: the seed 002 chain across workers, waits as dependencies
 * (Completion, PercpuRef drain, Revocable revoke, RCU synchronize), and the actions.
 */
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, it } from 'node:test';
import { Domain, lockdep, QuiesceError, type LockdepReport } from '../../src/index.js';
import { fixture, nextMessage, sleep } from '../helpers.js';

// A real GC, to see a dropped guard finalised (the flag is set at run time: no runner options).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const circular = (): LockdepReport[] => lockdep.reports().filter((r) => r.kind === 'circular');
const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().join() === [...b].sort().join();

async function eventually<T>(f: () => T | undefined, ms = 3000): Promise<T> {
  const t0 = performance.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (performance.now() - t0 > ms) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('lockdep with quiesce primitives', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it("seed 002: slab_mutex -> cpu_hotplug(read) in one worker, cpu_hotplug(write) -> slab_mutex in another: one 'circular' report", async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'seed002', maxThreads: 4 });
    const env = { ...process.env, QUIESCE_LOCKDEP: '1', QUIESCE_LOCKDEP_ACTION: 'collect' };
    for (const role of ['destroy', 'cpu_up']) {
      const w = d.spawn(fixture('lockdep-seed002'), { workerData: role, env });
      await nextMessage(w);
      await w.terminate();
    }
    const r = await eventually(() => circular()[0]);
    assert.equal(circular().length, 1);
    assert.ok(sameSet(r.classes, ['slab_mutex', 'cpu_hotplug']), r.classes.join());
    assert.match(r.text, /possible circular locking dependency detected/);
    assert.match(r.text, /Possible unsafe locking scenario/);
    assert.match(r.text, /\*\*\* DEADLOCK \*\*\*/);
    assert.match(r.text, /slab_mutex/);
    assert.match(r.text, /cpu_hotplug/);
  });

  it('a Completion waited on under lock L while its signaller takes L is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-completion', maxThreads: 2 });
    const L = d.mutex('L_completion');
    const done = d.completion('work_done');
    // the worker's side: a signaller section that takes L, then completes
    {
      using s = done.signaller();
      L.lockSync().unlock();
      s.complete();
    }
    // the waiter's side: waits for the completion while holding L
    const g = L.lockSync();
    done.waitSync({ timeoutMs: 1000 });
    g.unlock();
    const r = await eventually(() => circular()[0]);
    assert.ok(sameSet(r.classes, ['L_completion', 'work_done']), r.classes.join());
  });

  it('revoke under L while an Access takes L is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-revoke', maxThreads: 2 });
    const L = d.mutex('L_revoke');
    const dev = d.revocable('device');
    const a = dev.tryAccess()!;
    L.lockSync().unlock(); // an accessor takes L
    a.release();
    const g = L.lockSync();
    dev.revokeSync({ timeoutMs: 1000 }); // the revoker waits for accessors while holding L
    g.unlock();
    const r = await eventually(() => circular()[0]);
    assert.ok(sameSet(r.classes, ['L_revoke', 'device']), r.classes.join());
  });

  it('killAndDrain under L while a hold() guard takes L is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-drain', maxThreads: 2 });
    const L = d.mutex('L_drain');
    const ref = d.percpuRef('queue_ref');
    {
      using h = ref.hold();
      L.lockSync().unlock(); // a reference holder takes L
      void h;
    }
    const g = L.lockSync();
    ref.killAndDrainSync({ timeoutMs: 2000 }); // teardown waits for holders while holding L
    g.unlock();
    const r = await eventually(() => circular()[0]);
    assert.ok(sameSet(r.classes, ['L_drain', 'queue_ref']), r.classes.join());
  });

  it('srcu.synchronize under L while a reader (across await) takes L is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-srcu', maxThreads: 2 });
    const L = d.mutex('L_srcu');
    const s = d.srcu('sessions');
    await s.read(async () => {
      await L.withLock(() => sleep(1));
    });
    assert.equal(circular().length, 0);
    const g = await L.lock();
    await s.synchronize({ timeoutMs: 1000 });
    g.unlock();
    const r = await eventually(() => circular()[0]);
    assert.ok(sameSet(r.classes, ['L_srcu', 'sessions']), r.classes.join());
  });

  it("a blocking lockSync inside an RCU read section is an 'invalid-wait'", () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-invalid-wait', maxThreads: 2 });
    const L = d.mutex('L_inside_rcu');
    d.rcu.read(() => L.lockSync().unlock());
    assert.deepEqual(lockdep.reports().map((r) => r.kind), ['invalid-wait']);
  });

  it("action 'throw': the acquisition that closes a cycle throws ERR_LOCKDEP and the lock stays free", async () => {
    lockdep.enable({ action: 'throw' });
    const d = Domain.create({ name: 'ld-throw', maxThreads: 2 });
    const A = d.mutex('T_A');
    const B = d.mutex('T_B');
    {
      using a = A.lockSync();
      using b = B.lockSync();
      void a, void b;
    }
    const b = B.lockSync();
    assert.throws(() => A.lockSync(), (e: unknown) => e instanceof QuiesceError && e.code === 'ERR_LOCKDEP');
    assert.equal(A.isLocked(), false, 'the lock must stay free');
    await assert.rejects(A.lock(), (e: unknown) => e instanceof QuiesceError && e.code === 'ERR_LOCKDEP');
    assert.equal(A.isLocked(), false);
    b.unlock();
    // the right order still works
    A.lockSync().unlock();
  });

  it("action 'warn' prints each distinct problem once", async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    (process.stderr as { write: unknown }).write = (s: string | Uint8Array) => (lines.push(String(s)), true);
    try {
      lockdep.enable({ action: 'warn' });
      const d = Domain.create({ name: 'ld-warn', maxThreads: 2 });
      const A = d.mutex('W_A');
      const B = d.mutex('W_B');
      for (let i = 0; i < 3; i++) {
        const a = A.lockSync();
        B.lockSync().unlock();
        a.unlock();
        const b = B.lockSync();
        A.lockSync().unlock();
        b.unlock();
      }
    } finally {
      (process.stderr as { write: unknown }).write = write;
    }
    const printed = lines.join('').split('possible circular locking dependency detected').length - 1;
    assert.equal(printed, 1);
  });

  it("a task that ends holding a lock (its guard dropped, never unlocked) is 'held-at-exit'", async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-task-exit', maxThreads: 2 });
    const m = d.mutex('leaked_by_task');
    const ok = d.mutex('released_by_task');
    await (async () => {
      await m.lock(); // the guard is dropped here: nothing can unlock it any more
      (await ok.lock()).unlock();
    })();
    const r = await eventually(() => {
      gc();
      return lockdep.reports().find((x) => x.kind === 'held-at-exit');
    }, 5000);
    assert.deepEqual(r.classes, ['leaked_by_task']);
    assert.match(r.text, /lock held when its task ended/);
    assert.equal(lockdep.reports().length, 1, 'the released one is not reported');
  });

  it('assertHeld / assertNotHeld work on primitives', () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-assert', maxThreads: 2 });
    const m = d.mutex('AH');
    assert.throws(() => lockdep.assertHeld(m));
    const g = m.lockSync();
    lockdep.assertHeld(m);
    assert.throws(() => lockdep.assertNotHeld(m));
    g.unlock();
    lockdep.assertNotHeld(m);
  });
});
