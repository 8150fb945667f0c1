/*
 * SPEC §5: a PercpuRwSem writer holds BLOCK while it waits for readers to leave, and readers that
 * arrive meanwhile queue behind it (write-favoring). An async write() can only go on when its
 * thread runs its event loop. If that thread is blocked in a quiesce wait elsewhere, its writer
 * cannot run, and before the fix queued readers still waited for it: a reader the blocked thread
 * waits for could never get in (a deadlock no lock order of the program explains; the
 * PercpuRwSem side of the Mutex's stuck grant). A writer blocked in writeSync() runs as soon as it
 * is woken, so it must still keep new readers out.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PRW_BLOCK } from '../../src/domain/layout.js';
import { Domain, QuiesceError } from '../../src/index.js';
import { call, until, workerPool } from '../helpers.js';

describe('PercpuRwSem: a writer draining readers whose thread is blocked elsewhere', () => {
  const d = Domain.create({ name: 'pcpu-stuck-writer', maxThreads: 8 });
  const pool = workerPool(d, 'locks-pcpu-worker');
  after(() => pool.stop());

  it('an async write() of a blocked thread does not keep out a reader that thread waits for', async () => {
    const sem = d.percpuRwsem('stuck');
    const done = d.completion('pstuck.done');
    const holder = await pool.spawn();
    const reader = await pool.spawn();
    // holder reads and lets go by itself later (this thread is blocked by then)
    await call(holder, 'read', { name: 'stuck', key: 'r', sync: true, timeoutMs: 5000, releaseAfterMs: 150 });
    const wp = sem.write({ timeoutMs: 10000 }); // a grace period, BLOCK, then waits for holder's read
    await until(() => sem.isWriteLocked(), 5000, 'write() holds BLOCK and waits for the reader');
    // reader wants to read (queued behind our writer), then completes `done`, which this thread blocks on
    const readerDone = call(reader, 'readThenComplete', { name: 'stuck', completion: 'pstuck.done', timeoutMs: 3000 }, 20000);
    let blocked = 'ok';
    try {
      done.waitSync({ timeoutMs: 5000 }); // our write() cannot run meanwhile
    } catch (e) {
      blocked = e instanceof QuiesceError ? e.code : String(e);
    }
    const r = await readerDone;
    const g = await wp; // the writer gets it once both readers are gone
    const readersWhileWriting = sem.readers().reduce((n, x) => n + x.count, 0);
    g.unlock();
    assert.deepEqual({ waitSync: blocked, reader: r.ok ? 'ok' : r.code, readersWhileWriting }, { waitSync: 'ok', reader: 'ok', readersWhileWriting: 0 });
    assert.equal(sem.isWriteLocked(), false);
  });

  it('a reader that found the writer stuck just before it cleared DRAINING is seen by the writer', async () => {
    // The window: the writer sums 0 readers, then clears DRAINING; a reader adds itself and loads
    // BLOCK in between (DRAINING still set) and decides after the writer's thread blocked again.
    // The writer's second sum must see that reader, or both would be inside.
    const sem = d.percpuRwsem('race');
    const done = d.completion('prace.done');
    const holder = await pool.spawn();
    const reader = await pool.spawn();
    const flag = new Int32Array(new SharedArrayBuffer(16));
    const blockW = (sem as unknown as { h: number }).h + PRW_BLOCK;
    const i32 = (sem as unknown as { i32: Int32Array }).i32;
    const store = Atomics.store;
    let hooked = false;
    Atomics.store = ((a: Int32Array, i: number, v: number) => {
      if (!hooked && a === i32 && i === blockW && v === d.threadIndex + 1) {
        hooked = true; // our writer, about to clear DRAINING: let the reader add itself and look at BLOCK first
        store(flag, 0, 1);
        Atomics.notify(flag, 0);
        const end = performance.now() + 5000;
        while (Atomics.load(flag, 1) === 0 && performance.now() < end) Atomics.wait(flag, 1, 0, 10);
      }
      return store(a, i, v);
    }) as typeof Atomics.store;
    let r: { ok: boolean; code?: string; hooked?: boolean; writerIn?: number };
    let blocked = 'ok';
    try {
      await call(holder, 'read', { name: 'race', key: 'r', sync: true, timeoutMs: 5000, releaseAfterMs: 100 });
      const wp = sem.write({ timeoutMs: 10000 });
      const readerDone = call(reader, 'readRacing', { name: 'race', flag: flag.buffer, blocked: d.threadIndex, completion: 'prace.done', timeoutMs: 3000 }, 20000);
      const inside = await Promise.race([wp.then(() => 1), new Promise<number>((res) => setTimeout(() => res(0), 400))]);
      Atomics.store(flag, 2, inside);
      try {
        done.waitSync({ timeoutMs: 5000 }); // blocked: the reader decides now
      } catch (e) {
        blocked = e instanceof QuiesceError ? e.code : String(e);
      }
      r = await readerDone;
      (await wp).unlock();
    } finally {
      Atomics.store = store;
    }
    assert.deepEqual(
      { hooked, readerHooked: r.hooked, reader: r.ok ? 'ok' : r.code, waitSync: blocked, writerInsideWhileReading: r.writerIn },
      { hooked: true, readerHooked: true, reader: 'ok', waitSync: 'ok', writerInsideWhileReading: 0 },
    );
  });

  it('a writer blocked in writeSync() on another thread still keeps new readers out', async () => {
    const sem = d.percpuRwsem('sync-writer');
    const w = await pool.spawn();
    const r = sem.readSync();
    const wrote = call(w, 'write', { name: 'sync-writer', key: 'w', sync: true, timeoutMs: 10000 }, 20000); // blocks (OFFLINE) behind our read
    await until(() => sem.isWriteLocked(), 5000, 'the worker holds BLOCK, waiting for our read');
    await new Promise((res) => setTimeout(res, 20)); // well inside its blocking wait
    const t = sem.tryRead();
    t?.unlock();
    r.unlock();
    await wrote;
    await call(w, 'unlock', { name: 'sync-writer', key: 'w' });
    assert.equal(t, null, 'a reader got in ahead of a writer that is only asleep');
  });
});
