import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, code, fixture, nextMessage, sleep, spawnReady, withTimeout } from '../helpers.js';

describe('RCU across worker threads', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;

  before(async () => {
    d = Domain.create({ name: 'rcu-test', maxThreads: 8 });
    w1 = d.spawn(fixture('rcu-worker'));
    w2 = d.spawn(fixture('rcu-worker'));
    await Promise.all([nextMessage(w1, (m) => m.event === 'ready'), nextMessage(w2, (m) => m.event === 'ready')]);
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('a grace period waits for a long synchronous read section in another worker, and ends promptly after it', async () => {
    const done = call(w1, 'readSpin', { ms: 400 });
    await nextMessage(w1, (m) => m.event === 'inside');
    const t0 = performance.now();
    await withTimeout(d.rcu.synchronize(), 5000, 'synchronize');
    const t1 = performance.now();
    const { end } = await done;
    // performance.now() differs per thread (timeOrigin); compare durations instead.
    assert.ok(t1 - t0 >= 300, `synchronize returned after ${t1 - t0} ms, inside a 400 ms read section`);
    assert.ok(t1 - t0 < 2000, `synchronize took ${t1 - t0} ms`);
    void end;
  });

  it('a grace period with only idle workers ends without their code doing anything', async () => {
    const before = d.rcu.stats.gracePeriods;
    await withTimeout(d.rcu.synchronize(), 2000, 'synchronize');
    d.rcu.synchronizeSync({ timeoutMs: 2000 });
    assert.ok(d.rcu.stats.gracePeriods >= before + 2);
  });

  it('synchronizeSync waits for a reader too (the blocked caller is itself quiescent)', async () => {
    const done = call(w2, 'readSpin', { ms: 300 });
    await nextMessage(w2, (m) => m.event === 'inside');
    const t0 = performance.now();
    d.rcu.synchronizeSync({ timeoutMs: 5000 });
    assert.ok(performance.now() - t0 >= 200);
    await done;
  });

  it('synchronizeSync while a suspended async task of this thread drives the grace period takes it over', async () => {
    const done = call(w1, 'readSpin', { ms: 300 });
    await nextMessage(w1, (m) => m.event === 'inside');
    const asyncGp = d.rcu.synchronizeExpedited(); // this thread's async task becomes the driver
    // Blocking here must not wait for that driver: it cannot run until this call returns.
    d.rcu.synchronizeSync({ timeoutMs: 3000 });
    await withTimeout(asyncGp, 3000, 'the async synchronize');
    await done;
  });

  it('synchronize with timeoutMs rejects ERR_TIMEOUT while a reader stays inside', async () => {
    const done = call(w1, 'readSpin', { ms: 600 });
    await nextMessage(w1, (m) => m.event === 'inside');
    await assert.rejects(d.rcu.synchronize({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    await done;
    await withTimeout(d.rcu.synchronize(), 3000, 'synchronize after timeout'); // nothing wedged
  });

  it('abort rejects ERR_ABORTED', async () => {
    const done = call(w1, 'readSpin', { ms: 400 });
    await nextMessage(w1, (m) => m.event === 'inside');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(d.rcu.synchronize({ signal: ac.signal }), code('ERR_ABORTED'));
    await done;
  });

  it('call() callbacks run only after a grace period; barrier() waits for all earlier ones, on every thread', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const ran: number[] = [];
    // a reader in w1 holds the grace period; callbacks queued now must not run before it ends
    const done = call(w1, 'readSpin', { ms: 300 });
    await nextMessage(w1, (m) => m.event === 'inside');
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) d.rcu.call(() => ran.push(performance.now() - t0));
    await call(w2, 'call', { sab: counter.buffer, n: 7 });
    await sleep(50);
    assert.equal(ran.length, 0, 'callbacks ran before the grace period');
    await withTimeout(d.rcu.barrier(), 5000, 'barrier');
    assert.equal(ran.length, 5);
    assert.equal(Atomics.load(counter, 0), 7, 'barrier returned before the other worker ran its callbacks');
    assert.ok(ran.every((t) => t >= 200), `callbacks ran at ${ran}`);
    await done;
  });

  it('1000 concurrent synchronize() calls complete within 5 grace periods', async () => {
    const before = d.rcu.stats.gracePeriods;
    await withTimeout(Promise.all(Array.from({ length: 1000 }, () => d.rcu.synchronize())), 10000, '1000 synchronize');
    const used = d.rcu.stats.gracePeriods - before;
    assert.ok(used >= 1 && used <= 5, `used ${used} grace periods`);
  });

  it('polled grace periods: pollState turns true after a grace period', async () => {
    // A reader inside a long section in w1 keeps the grace period from ending.
    const done = call(w1, 'readSpin', { ms: 300 });
    await nextMessage(w1, (m) => m.event === 'inside');
    const c = d.rcu.getState();
    await sleep(100);
    assert.equal(d.rcu.pollState(c), false);
    await done;
    // getState() drives the grace period itself: no synchronize() needed.
    const t0 = performance.now();
    while (!d.rcu.pollState(c)) {
      assert.ok(performance.now() - t0 < 3000, 'pollState never turned true');
      await sleep(5);
    }
  });

  it('a worker terminated inside a read section does not hold up synchronize()', async () => {
    const w = await spawnReady(d, 'rcu-worker');
    void call(w, 'readForever').catch(() => {});
    await nextMessage(w, (m) => m.event === 'inside');
    await assert.rejects(d.rcu.synchronize({ timeoutMs: 150 }), code('ERR_TIMEOUT'));
    const s = d.rcu.synchronize({ timeoutMs: 5000 });
    await w.terminate();
    await withTimeout(s, 5000, 'synchronize after terminate');
  });
});

describe('RCU misuse', () => {
  const d = Domain.create({ name: 'rcu-misuse', maxThreads: 2 });

  it('synchronizeSync inside a read section throws ERR_RCU_MISUSE', () => {
    d.rcu.readLock();
    try {
      assert.throws(() => d.rcu.synchronizeSync(), code('ERR_RCU_MISUSE'));
    } finally {
      d.rcu.readUnlock();
    }
  });

  it('synchronize() inside a read section rejects ERR_RCU_MISUSE', async () => {
    let p!: Promise<void>;
    d.rcu.read(() => {
      p = d.rcu.synchronize();
    });
    await assert.rejects(p, code('ERR_RCU_MISUSE'));
  });

  it('a read section still open at the event loop is reported and its unlock throws ERR_RCU_MISUSE', async () => {
    const warnings: string[] = [];
    const onWarn = (w: Error & { code?: string }) => w.code === 'ERR_RCU_MISUSE' && warnings.push(w.message);
    process.on('warning', onWarn);
    try {
      d.rcu.readLock();
      await sleep(5);
      assert.throws(() => d.rcu.readUnlock(), code('ERR_RCU_MISUSE'));
      await sleep(5);
      assert.equal(warnings.length, 1);
      assert.equal(d.rcu.inReadSection, false);
      // the domain still works afterwards
      await withTimeout(d.rcu.synchronize(), 2000, 'synchronize');
    } finally {
      process.off('warning', onWarn);
    }
  });

  it('read(fn) with an async fn is ERR_RCU_MISUSE; unbalanced readUnlock too', async () => {
    assert.throws(() => d.rcu.read(async () => 1), code('ERR_RCU_MISUSE'));
    assert.throws(() => d.rcu.readUnlock(), code('ERR_RCU_MISUSE'));
    assert.equal(d.rcu.read(() => 42), 42);
  });
});
