/*
 * SPEC §5: RwSem is write-favoring: once a writer waits, new readers wait behind it. An async
 * write() can only take the lock when its thread runs its event loop. If that thread is blocked in
 * a quiesce wait elsewhere, its writer cannot run, and before the fix it still kept every new
 * reader out: a reader the blocked thread waits for could never get in (a deadlock no lock order
 * of the program explains; the RwSem side of the Mutex's stuck grant, mutex-stuck-grant.test.ts).
 * A writer blocked in writeSync() runs as soon as it is woken, so it must still keep readers out.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ThreadState } from '../../src/domain/layout.js';
import { Domain, QuiesceError } from '../../src/index.js';
import { call, nextMessage, until, workerPool } from '../helpers.js';

describe('RwSem: a waiting writer whose thread is blocked elsewhere', () => {
  const d = Domain.create({ name: 'rwsem-stuck-writer', maxThreads: 8 });
  const pool = workerPool(d, 'locks-worker');
  after(() => pool.stop());

  it('an async write() of a blocked thread does not keep out a reader that thread waits for', async () => {
    const rw = d.rwsem('stuck');
    const done = d.completion('stuck.done');
    const holder = await pool.spawn();
    const reader = await pool.spawn();
    // holder reads and lets go by itself later (this thread is blocked by then)
    await call(holder, 'rwRead', { name: 'stuck', key: 'r', releaseAfterMs: 150 });
    const wp = rw.write({ timeoutMs: 10000 }); // waits for holder's read: counted in WWAIT
    await until(() => rw.debugState().writersWaiting === 1, 3000, 'write() waits');
    // reader wants to read (behind our writer), then completes `done`, which this thread blocks on
    const readerDone = call(reader, 'rwReadThenComplete', { name: 'stuck', completion: 'stuck.done', timeoutMs: 3000 }, 20000);
    let blocked: string = 'ok';
    try {
      done.waitSync({ timeoutMs: 5000 }); // our write() cannot run meanwhile
    } catch (e) {
      blocked = e instanceof QuiesceError ? e.code : String(e);
    }
    const r = await readerDone;
    const g = await wp; // the writer gets it once the reader is gone
    g.unlock();
    assert.deepEqual({ waitSync: blocked, reader: r.error ?? 'ok' }, { waitSync: 'ok', reader: 'ok' });
    assert.deepEqual(rw.debugState(), { readers: 0, writer: false, writersWaiting: 0, localReads: 0 });
  });

  it('a thread holding a read reads again past a stuck writer (no ERR_DEADLOCK: nothing waits for it)', async () => {
    const rw = d.rwsem('again');
    const done = d.completion('again.done');
    const w = await pool.spawn();
    const r1 = rw.readSync();
    const wrote = nextMessage(w, (m) => m.key === 'again', 20000);
    const { slot } = await call(w, 'rwWriteAsyncThenBlock', { name: 'again', completion: 'again.done', key: 'again' });
    const threads = (d as unknown as { core: { threads: { state(t: number): number } } }).core.threads;
    await until(() => rw.debugState().writersWaiting === 1 && threads.state(slot) === ThreadState.OFFLINE, 5000, 'the worker waits to write, blocked elsewhere');
    let again: string = 'ok';
    try {
      rw.readSync({ timeoutMs: 2000 }).unlock();
    } catch (e) {
      again = e instanceof QuiesceError ? e.code : String(e);
    }
    r1.unlock();
    done.complete();
    const end = await wrote;
    assert.deepEqual({ again, writer: end.event }, { again: 'ok', writer: 'wrote' });
  });

  it('a writer blocked in writeSync() on another thread still keeps new readers out', async () => {
    const rw = d.rwsem('sync-writer');
    const w = await pool.spawn();
    const r = rw.readSync();
    w.postMessage({ id: -1, cmd: 'rwWrite', name: 'sync-writer', key: 'w' }); // blocks (OFFLINE) behind our read
    await until(() => rw.debugState().writersWaiting === 1, 3000, 'the worker waits in writeSync()');
    await new Promise((res) => setTimeout(res, 20)); // well inside its blocking wait
    const t = rw.tryRead();
    t?.unlock();
    r.unlock();
    await call(w, 'release', { key: 'w' }, 10000).catch(() => {}); // after it got the lock
    assert.equal(t, null, 'a reader got in ahead of a writer that is only asleep');
  });
});
