/*
 * SPEC §5: a blocking acquisition that could only succeed once a suspended async task of this same
 * thread makes progress is a certain self-deadlock: ERR_DEADLOCK at once, not a hang until timeout.
 * Here: readSync() while this thread's own async write() waits (RwSem: counted as a waiting writer;
 * PercpuRwSem: holding BLOCK, draining readers). A worker holds a read side and leaves 300 ms later.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, code, fixture, nextMessage, until, withTimeout } from '../helpers.js';

/** Run readSync and report how it ended and how long it blocked. */
function timedReadSync(readSync: () => { unlock(): void }): { err: unknown; ms: number } {
  const t0 = performance.now();
  let err: unknown = null;
  try {
    readSync().unlock();
  } catch (e) {
    err = e;
  }
  return { err, ms: performance.now() - t0 };
}

describe("readSync() behind this thread's own suspended async writer", () => {
  let d: Domain;
  let rwWorker: Worker;
  let pcpuWorker: Worker;
  before(async () => {
    d = Domain.create({ name: 'selfdeadlock-async-writer', maxThreads: 4 });
    rwWorker = d.spawn(fixture('locks-worker'));
    pcpuWorker = d.spawn(fixture('locks-pcpu-worker'));
    await Promise.all([nextMessage(rwWorker, (m) => m.event === 'ready'), nextMessage(pcpuWorker, (m) => m.event === 'ready')]);
  });
  after(async () => {
    await rwWorker.terminate();
    await pcpuWorker.terminate();
  });

  it('PercpuRwSem: ERR_DEADLOCK at once while the async writer holds BLOCK', async () => {
    const name = 'pcpu';
    const sem = d.percpuRwsem(name);
    assert.equal((await call(pcpuWorker, 'read', { name, key: 'r', sync: true, timeoutMs: 3000, releaseAfterMs: 300 })).ok, true);
    const writer = sem.write({ timeoutMs: 5000 });
    await until(() => sem.isWriteLocked(), 2000, 'the async writer holds BLOCK');
    const { err, ms } = timedReadSync(() => sem.readSync({ timeoutMs: 1500 }));
    (await withTimeout(writer, 4000, 'async writer')).unlock();
    assert.ok(code('ERR_DEADLOCK')(err), `readSync must throw ERR_DEADLOCK, got ${String(err)}`);
    assert.ok(ms < 500, `readSync blocked for ${Math.round(ms)} ms before refusing`);
    // The writer is gone: a blocking read is fine again.
    sem.readSync({ timeoutMs: 1000 }).unlock();
  });

  it('RwSem: ERR_DEADLOCK at once while the async writer waits', async () => {
    const name = 'rw';
    const rw = d.rwsem(name);
    await call(rwWorker, 'rwRead', { name, key: 'r', releaseAfterMs: 300 });
    const writer = rw.write({ timeoutMs: 5000 });
    await until(() => rw.debugState().writersWaiting === 1, 2000, 'the async writer waits');
    const { err, ms } = timedReadSync(() => rw.readSync({ timeoutMs: 1500 }));
    (await withTimeout(writer, 4000, 'async writer')).unlock();
    assert.ok(code('ERR_DEADLOCK')(err), `readSync must throw ERR_DEADLOCK, got ${String(err)}`);
    assert.ok(ms < 500, `readSync blocked for ${Math.round(ms)} ms before refusing`);
    // The writer is done waiting: a blocking read is fine again.
    rw.readSync({ timeoutMs: 1000 }).unlock();
  });
});
