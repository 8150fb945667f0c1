import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, type ReadGuard } from '../../src/index.js';
import { call, code, fixture, nextMessage, settlesWithin, sleep, spawnReady, withTimeout } from '../helpers.js';

describe('RwSem', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;

  before(async () => {
    d = Domain.create({ name: 'rwsem-test', maxThreads: 8 });
    w1 = d.spawn(fixture('locks-worker'));
    w2 = d.spawn(fixture('locks-worker'));
    await Promise.all([nextMessage(w1, (m) => m.event === 'ready'), nextMessage(w2, (m) => m.event === 'ready')]);
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('write-favoring: a reader arriving while a writer waits waits behind it (same thread and other workers)', async () => {
    const rw = d.rwsem('fair');
    await call(w1, 'rwRead', { name: 'fair', key: 'r' });
    const order: string[] = [];
    const writer = rw.write({ timeoutMs: 5000 }).then((g) => (order.push('writer'), g));
    await sleep(20);
    assert.equal(rw.debugState().writersWaiting, 1);
    assert.equal(rw.tryRead(), null, 'tryRead must fail while a writer waits');
    assert.equal((await call(w2, 'rwTryRead', { name: 'fair' })).got, false);
    const reader = rw.read({ timeoutMs: 5000 }).then((g) => (order.push('reader'), g));
    assert.equal(await settlesWithin(reader, 100), false, 'the new reader must wait behind the writer');
    await call(w1, 'release', { key: 'r' });
    const wg = await withTimeout(writer, 3000, 'writer');
    assert.equal(await settlesWithin(reader, 50), false, 'reader still waits while the writer holds it');
    wg.unlock();
    const rg = await withTimeout(reader, 3000, 'reader');
    assert.deepEqual(order, ['writer', 'reader']);
    rg.unlock();
    assert.deepEqual({ ...rw.debugState(), localReads: 0 }, { readers: 0, writer: false, writersWaiting: 0, localReads: 0 });
  });

  it('downgrade turns the write hold into a read hold atomically', async () => {
    const rw = d.rwsem('down');
    const wg = rw.writeSync();
    assert.equal(rw.tryRead(), null);
    const rg = wg.downgrade();
    assert.throws(() => wg.unlock(), code('ERR_NOT_OWNER'));
    assert.equal(rw.debugState().readers, 1);
    assert.equal(rw.debugState().writer, false);
    assert.equal((await call(w1, 'rwTryRead', { name: 'down' })).got, true);
    assert.equal(rw.tryWrite(), null);
    rg.unlock();
    assert.throws(() => rg.unlock(), code('ERR_DOUBLE_UNLOCK'));
    const w = rw.tryWrite();
    assert.ok(w);
    w.unlock();
  });

  it('handoff of a read guard to another worker keeps writers out until it unlocks there; double adopt is ERR_NOT_OWNER', async () => {
    const rw = d.rwsem('handoff', { class: 'handoff-class' });
    const g = rw.readSync();
    const { token } = g.handoff();
    assert.throws(() => g.unlock(), code('ERR_NOT_OWNER'));
    g[Symbol.dispose](); // no-op: the hold moved
    assert.equal(rw.debugState().readers, 1);
    const r = await call(w1, 'adopt', { token, key: 'h' });
    assert.equal(r.error, undefined);
    assert.throws(() => d.adopt(token), code('ERR_NOT_OWNER'));
    assert.equal((await call(w2, 'adopt', { token, key: 'h2' })).error, 'ERR_NOT_OWNER');
    assert.equal(rw.tryWrite(), null);
    const writer = rw.write({ timeoutMs: 5000 });
    assert.equal(await settlesWithin(writer, 100), false, 'the writer must wait for the adopted read side');
    await call(w1, 'release', { key: 'h' });
    const wg = await withTimeout(writer, 3000, 'writer after the adopter unlocked');
    wg.unlock();
    assert.deepEqual({ ...rw.debugState(), localReads: 0 }, { readers: 0, writer: false, writersWaiting: 0, localReads: 0 });
  });

  it('handoff between async tasks of one thread', async () => {
    const rw = d.rwsem('handoff-local');
    const g = await rw.read();
    const { token } = g.handoff();
    const adopted = await (async () => d.adopt(token) as ReadGuard)();
    assert.equal(rw.tryWrite(), null);
    adopted.unlock();
    const w = rw.tryWrite();
    assert.ok(w);
    w.unlock();
    assert.throws(() => d.adopt({ kind: 'nope' } as never), code('ERR_BAD_HANDLE'));
  });

  it('timeout and abort on read/readSync/write/writeSync leave no waiter behind', async () => {
    const rw = d.rwsem('timeouts');
    await call(w1, 'rwWrite', { name: 'timeouts', key: 'w' });
    await assert.rejects(rw.read({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    assert.throws(() => rw.readSync({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(rw.read({ signal: ac.signal }), code('ERR_ABORTED'));
    await assert.rejects(rw.write({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    assert.throws(() => rw.writeSync({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 30);
    await assert.rejects(rw.write({ signal: ac2.signal }), code('ERR_ABORTED'));
    assert.throws(() => rw.writeSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.throws(() => rw.readSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.equal(rw.debugState().writersWaiting, 0);
    await call(w1, 'release', { key: 'w' });
    // a leaked waiting-writer count would make this fail (write-favoring)
    const r = rw.tryRead();
    assert.ok(r, 'readers enter at once: no writer registration was left behind');
    // a reader holds it: a timed-out writer must not keep other readers out afterwards
    await assert.rejects(rw.write({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    assert.equal((await call(w2, 'rwTryRead', { name: 'timeouts' })).got, true);
    r.unlock();
    const w = rw.tryWrite();
    assert.ok(w);
    w.unlock();
  });

  it('ERR_DEADLOCK for certain self-deadlocks', async () => {
    const rw = d.rwsem('self');
    const r = rw.readSync();
    assert.throws(() => rw.writeSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    // a writer from another worker waits: a second read on this thread would wait behind it forever
    const writer = call(w1, 'rwWriteAsync', { name: 'self', key: 'w' });
    await sleep(50);
    assert.equal(rw.debugState().writersWaiting, 1);
    assert.throws(() => rw.readSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    r.unlock();
    await writer;
    await call(w1, 'release', { key: 'w' });
    const w = rw.writeSync();
    assert.throws(() => rw.readSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    assert.throws(() => rw.writeSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    w.unlock();
    assert.throws(() => w.unlock(), code('ERR_DOUBLE_UNLOCK'));
  });

  it('a worker that dies holding the write side releases it: a waiting reader gets in', async () => {
    const w = await spawnReady(d, 'locks-worker');
    await call(w, 'rwWrite', { name: 'rw-robust', key: 'w' });
    const rw = d.rwsem('rw-robust');
    assert.equal(rw.tryRead(), null);
    const reading = rw.read({ timeoutMs: 5000 });
    await sleep(20);
    await w.terminate();
    const r = await withTimeout(reading, 3000, 'reader after the writer died');
    r.unlock();
    rw.writeSync({ timeoutMs: 1000 }).unlock();
  });

  it('a worker that dies holding read sides (its own and an adopted one) releases them: a writer gets in', async () => {
    const w = await spawnReady(d, 'locks-worker');
    const rw = d.rwsem('rw-robust-read');
    await call(w, 'rwRead', { name: 'rw-robust-read', key: 'r1' });
    const mine = rw.readSync();
    await call(w, 'adopt', { token: mine.handoff().token, key: 'r2' }); // now held there
    assert.equal(rw.tryWrite(), null);
    const writing = rw.write({ timeoutMs: 5000 });
    await sleep(20);
    await w.terminate();
    const g = await withTimeout(writing, 3000, 'writer after the readers died');
    g.unlock();
    assert.equal(rw.debugState().readers, 0);
  });

  it('ERR_KIND_MISMATCH for a different class under the same name', () => {
    d.rwsem('cls', { class: 'A' });
    assert.throws(() => d.rwsem('cls', { class: 'B' }), code('ERR_KIND_MISMATCH'));
  });
});
