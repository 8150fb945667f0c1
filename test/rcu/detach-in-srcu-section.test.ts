/*
 * A thread inside an SRCU read section cannot leave the domain: its counters stay in every sum
 * of the Srcu (a FREE slot is never left out, unlike a DEAD one), so if the thread then exits
 * without unlocking, that Srcu's grace periods can never end again; had it not detached, its
 * death would have released them (SPEC §1/§3: dead threads never hold a grace period up).
 * detach() inside an SRCU read section therefore throws ERR_RCU_MISUSE and changes nothing, as it
 * does inside an RCU read section.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, spawnReady } from '../helpers.js';

describe('detach() inside an SRCU read section', () => {
  let w: Worker | undefined;
  after(async () => {
    await w?.terminate();
  });

  it('throws ERR_RCU_MISUSE, and the worker exiting inside the section does not wedge synchronize()', async () => {
    const d = Domain.create({ name: 'detach-in-srcu', maxThreads: 4 });
    const s = d.srcu('x');
    w = await spawnReady(d, 'rcu-review-worker');
    await call(w, 'srcuLock', { name: 'x' });
    const r = await call<{ res: string }>(w, 'detach');
    const exited = new Promise((res) => w!.once('exit', res));
    w.postMessage({ cmd: 'exit' });
    await exited;
    let res = 'ok';
    try {
      await s.synchronize({ timeoutMs: 3000 });
    } catch (e) {
      res = (e as { code?: string }).code ?? String(e);
    }
    assert.equal(res, 'ok', 'synchronize() waits forever for a section of a worker that detached inside it and exited');
    assert.equal(r.res, 'ERR_RCU_MISUSE');
  });
});

describe('detach() and SRCU sections on the calling thread', () => {
  it('refuses while a task holds a section, changes nothing, and works once it closed', () => {
    const d = Domain.create({ name: 'detach-in-srcu-2', maxThreads: 2 });
    const s = d.srcu('y');
    const idx = s.readLock();
    assert.throws(() => d.detach(), (e: unknown) => (e as { code?: string }).code === 'ERR_RCU_MISUSE' && /Srcu 'y'/.test((e as Error).message));
    assert.equal(d.threadIndex, 0, 'still attached');
    s.readUnlock(idx);
    d.detach();
    assert.throws(() => d.threadIndex, (e: unknown) => (e as { code?: string }).code === 'ERR_NOT_ATTACHED');
  });

  it('with a pending srcu.call() it is still ERR_DEADLOCK (README §10)', () => {
    const d = Domain.create({ name: 'detach-in-srcu-3', maxThreads: 2 });
    const s = d.srcu('z');
    const idx = s.readLock();
    s.call(() => {});
    assert.throws(() => d.detach(), (e: unknown) => (e as { code?: string }).code === 'ERR_DEADLOCK');
    s.readUnlock(idx);
    d.detach();
  });
});
