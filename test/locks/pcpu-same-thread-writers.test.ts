/*
 * PercpuRwSem BLOCK records only the writer's THREAD (slot+1), not the async task: two writers of
 * one thread must still exclude each other (review: a waiting writer that woke and saw its own
 * thread's slot in BLOCK took that for its own CAS success).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, type PercpuWriteGuard } from '../../src/index.js';
import { call, code, sleep, spawnReady, withTimeout } from '../helpers.js';

describe('PercpuRwSem: writers of the same thread', () => {
  let d: Domain;
  let w: Worker;
  before(async () => {
    d = Domain.create({ name: 'pcpu-same-thread', maxThreads: 4 });
    w = await spawnReady(d, 'locks-pcpu-worker');
  });
  after(async () => {
    await w.terminate();
  });

  it('a second async writer does not get in while the first one holds the lock', async () => {
    const sem = d.percpuRwsem('async-async');
    const w1 = await withTimeout(sem.write({ timeoutMs: 2000 }), 3000, 'first writer');
    let second: PercpuWriteGuard | null = null;
    const p2 = sem.write({ timeoutMs: 3000 }).then((g) => (second = g));
    await sleep(1200); // longer than one wait slice (1000 ms): the waiter has woken and re-checked
    const bothHeld = second !== null && w1.held;
    w1.unlock();
    const g2 = await withTimeout(p2, 2500, 'second writer after the first unlocked');
    assert.equal(bothHeld, false, 'two writers of one thread held the PercpuRwSem at once');
    assert.equal(sem.isWriteLocked(), true);
    g2.unlock();
    assert.equal(sem.isWriteLocked(), false);
  });

  it('writeSync() while an async writer of this thread holds BLOCK throws ERR_DEADLOCK at once', async () => {
    const name = 'sync-async';
    const sem = d.percpuRwsem(name);
    // A reader on the worker keeps the async writer draining (holding BLOCK, not yet resolved).
    assert.equal((await call(w, 'read', { name, key: 'r', sync: true, timeoutMs: 3000, releaseAfterMs: 600 })).ok, true);
    const asyncWriter = sem.write({ timeoutMs: 5000 });
    await sleep(100);
    assert.equal(sem.isWriteLocked(), true, 'the async writer holds BLOCK');
    const t0 = performance.now();
    let syncGuard: PercpuWriteGuard | null = null;
    let err: unknown = null;
    try {
      syncGuard = sem.writeSync({ timeoutMs: 2500 });
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    const a = await withTimeout(asyncWriter, 4000, 'async writer');
    const both = syncGuard !== null && a.held;
    (syncGuard as PercpuWriteGuard | null)?.unlock();
    a.unlock();
    assert.equal(both, false, 'writeSync returned a guard while the async writer of the same thread also got one');
    assert.ok(code('ERR_DEADLOCK')(err), `writeSync must throw ERR_DEADLOCK, got ${String(err)}`);
    assert.ok(ms < 500, `writeSync blocked for ${Math.round(ms)} ms before refusing`);
  });
});
