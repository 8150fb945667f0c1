import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, QuiesceError } from '../../src/index.js';
import { call, code, fixture, nextMessage, settlesWithin, sleep, until, withTimeout } from '../helpers.js';

/** Poll `pred` every few ms (event-loop turns in between) until true, or fail after `ms`. */
describe('PercpuRwSem', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;
  let w1slot: number;
  let n = 0;
  const fresh = (): string => `pcpu-${++n}`;

  before(async () => {
    d = Domain.create({ name: 'pcpu-test', maxThreads: 8 });
    w1 = d.spawn(fixture('locks-pcpu-worker'));
    w2 = d.spawn(fixture('locks-pcpu-worker'));
    const [r1] = await Promise.all([nextMessage(w1, (m) => m.event === 'ready'), nextMessage(w2, (m) => m.event === 'ready')]);
    w1slot = r1.slot;
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('readers use the fast path while idle; a writer forces them off it; they return one grace period after unlock', async () => {
    const s = d.percpuRwsem(fresh());
    assert.equal(s.rs.isIdle(), true);
    s.tryRead()!.unlock();
    const w = await withTimeout(s.write(), 5000, 'write');
    assert.equal(s.rs.isIdle(), false);
    assert.equal(s.tryRead(), null, 'no reader gets in while the writer holds the lock');
    w.unlock();
    // An exit followed at once by an enter needs no grace period (GP_EXIT): tryWrite succeeds.
    const again = s.tryWrite();
    assert.ok(again, 'tryWrite right after an unlock (rcu_sync in GP_EXIT) must succeed without a grace period');
    again.unlock();
    await until(() => s.rs.isIdle(), 5000, 'rcu_sync back to idle');
    assert.equal(s.tryWrite(), null, 'from idle a writer needs a grace period: tryWrite fails');
    s.tryRead()!.unlock();
  });

  it('a writer waits for a reader on another worker, then excludes new readers there until it unlocks', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    assert.equal((await call(w1, 'read', { name, key: 'r1', sync: true })).ok, true);
    const wp = s.write({ timeoutMs: 8000 });
    assert.equal(await settlesWithin(wp, 300), false, 'the writer must wait for the reader in w1');
    // The writer holds BLOCK now: new readers on other workers fail or queue.
    assert.equal((await call(w2, 'tryRead', { name, key: 'x' })).ok, false);
    const timed = await call(w2, 'read', { name, key: 'x', timeoutMs: 100 });
    assert.equal(timed.code, 'ERR_TIMEOUT');
    await call(w1, 'unlock', { key: 'r1' });
    const wg = await withTimeout(wp, 5000, 'writer after the reader left');
    // A reader on w2 queues behind the held write lock and gets in only after unlock.
    const rp = call(w2, 'read', { name, key: 'r2', timeoutMs: 8000 });
    assert.equal(await settlesWithin(rp, 200), false, 'a reader must not get in while the writer holds the lock');
    wg.unlock();
    assert.equal((await withTimeout(rp, 5000, 'reader after unlock')).ok, true);
    await call(w2, 'unlock', { key: 'r2' });
  });

  it('writers are not starved by a stream of overlapping readers, and exclude them while they hold the lock', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    const flag = new Int32Array(new SharedArrayBuffer(8)); // [0]: writer inside, [1]: writer has been in
    const stream = call(w1, 'readStream', { name, ms: 1200, flag: flag.buffer }, 15000);
    await sleep(200);
    const wg = await withTimeout(s.write(), 4000, 'writer during a reader stream');
    Atomics.store(flag, 0, 1);
    await sleep(40);
    Atomics.store(flag, 0, 0);
    Atomics.store(flag, 1, 1);
    wg.unlock();
    const r = await withTimeout(stream, 15000, 'reader stream');
    assert.equal(r.violations, 0, 'a reader held the lock while the writer was inside');
    assert.ok(r.reads > 20, `the stream ran (${r.reads} reads)`);
    assert.ok(r.readsAfterWriter > 0, 'the stream went on after the writer (the writer got in mid-stream)');
  });

  it('downgrade turns the write side into a read side: readers get in, writers do not', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    const wg = await s.write();
    const rg = wg.downgrade();
    assert.equal((await call(w1, 'tryRead', { name, key: 'd1' })).ok, true, 'a reader gets in after downgrade');
    await call(w1, 'unlock', { key: 'd1' });
    assert.equal((await call(w2, 'write', { name, key: 'dw', timeoutMs: 150 })).code, 'ERR_TIMEOUT', 'a writer waits for the downgraded reader');
    assert.throws(() => wg.unlock(), code('ERR_NOT_OWNER'));
    rg.unlock();
    assert.equal((await call(w2, 'write', { name, key: 'dw', timeoutMs: 5000 })).ok, true);
    await call(w2, 'unlock', { key: 'dw' });
  });

  it('a read side handed off to another worker keeps writers out until the adopter unlocks it', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    const g = await s.read();
    const { token } = g.handoff();
    assert.throws(() => g.unlock(), code('ERR_NOT_OWNER'));
    g[Symbol.dispose](); // a moved guard disposes silently
    assert.equal((await call(w1, 'adopt', { token, key: 'h1' })).ok, true);
    assert.throws(() => d.adopt(token), code('ERR_NOT_OWNER'), 'a token is adopted once');
    await assert.rejects(s.write({ timeoutMs: 200 }), code('ERR_TIMEOUT'));
    await call(w1, 'unlock', { key: 'h1' }); // -1 on w1's counter, +1 stayed on ours: the sum is 0
    const wg = await withTimeout(s.write({ timeoutMs: 5000 }), 6000, 'writer after the adopter unlocked');
    wg.unlock();
  });

  it('timeouts and aborts of every wait leave nothing behind', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    // --- readers waiting for a writer (held by w1)
    assert.equal((await call(w1, 'write', { name, key: 'tw' })).ok, true);
    await assert.rejects(s.read({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(s.read({ signal: ac.signal }), code('ERR_ABORTED'));
    assert.throws(() => s.readSync({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    assert.throws(() => s.readSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    await call(w1, 'unlock', { key: 'tw' });
    s.tryRead()!.unlock(); // acquirable at once
    // --- writers waiting for a reader (held by w1)
    assert.equal((await call(w1, 'read', { name, key: 'tr' })).ok, true);
    const e = await s.write({ timeoutMs: 150 }).then(
      () => null,
      (x: unknown) => x,
    );
    assert.ok(code('ERR_TIMEOUT')(e), String(e));
    assert.match((e as Error).message, new RegExp(`thread ${w1slot}\\b`), 'the timeout names the thread holding a read');
    assert.deepEqual(((e as QuiesceError).details as { readers: { thread: number; count: number }[] }).readers.map((r) => [r.thread, r.count]), [[w1slot, 1]]);
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 50);
    await assert.rejects(s.write({ signal: ac2.signal }), code('ERR_ABORTED'));
    assert.throws(() => s.writeSync({ timeoutMs: 150 }), code('ERR_TIMEOUT'));
    assert.throws(() => s.writeSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    // nothing left: readers get in at once (BLOCK released), and w1's reader leaving lets a writer in at once
    assert.equal(s.isWriteLocked(), false);
    s.tryRead()!.unlock();
    assert.equal((await call(w2, 'tryRead', { name, key: 'y' })).ok, true);
    await call(w2, 'unlock', { key: 'y' });
    await call(w1, 'unlock', { key: 'tr' });
    const wg = s.writeSync({ timeoutMs: 5000 });
    wg.unlock();
    // --- a writer timing out in its grace period (w1 runs a long synchronous section)
    await until(() => s.rs.isIdle(), 5000, 'idle again');
    const busy = call(w1, 'spin', { ms: 600 });
    await sleep(50);
    await assert.rejects(s.write({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    await busy;
    await until(() => s.rs.isIdle(), 5000, 'rcu_sync idle after an abandoned enter');
    (await withTimeout(s.write(), 5000, 'write after an abandoned enter')).unlock();
  });

  it('certain self-deadlocks throw ERR_DEADLOCK; double unlock and option mismatches are errors', async () => {
    const name = fresh();
    const s = d.percpuRwsem(name);
    const r = s.readSync();
    assert.throws(() => s.writeSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    r.unlock();
    assert.throws(() => r.unlock(), code('ERR_DOUBLE_UNLOCK'));
    const w = s.writeSync({ timeoutMs: 5000 });
    assert.throws(() => s.readSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    assert.throws(() => s.writeSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    w.unlock();
    assert.throws(() => w.unlock(), code('ERR_DOUBLE_UNLOCK'));
    w[Symbol.dispose](); // no-op once released
    {
      using g = s.readSync();
      void g;
    }
    assert.equal(s.isWriteLocked(), false);
    (await s.write({ timeoutMs: 5000 })).unlock(); // the disposed read was released
    d.percpuRwsem('pcpu-opts', { class: 'A' });
    assert.equal(d.percpuRwsem('pcpu-opts', { class: 'A' }), d.percpuRwsem('pcpu-opts', { class: 'A' }));
    assert.throws(() => d.percpuRwsem('pcpu-opts', { class: 'B' }), code('ERR_KIND_MISMATCH'));
    assert.throws(() => d.revocable('pcpu-opts', { class: 'A' }), code('ERR_KIND_MISMATCH'));
    assert.throws(() => s.adoptHandoff({ kind: 'quiesce.handoff', objectKind: 'RwSem', name, class: name, slot: 0, seal: 1, data: 0, lockdep: null }), code('ERR_BAD_HANDLE'));
  });
});
