/*
 * lockdep.reset() forgets what lockdep has LEARNED (graph, chains, usage bits, reports) in every
 * thread. Another thread's held locks are left alone, and the calling thread's are forgotten; either
 * way a lock taken before reset() and released after it is a balanced unlock, not a 'bad-unlock'
 * (review finding t06: a reset in main made a worker's balanced release a 'bad-unlock').
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Domain, lockdep } from '../../src/index.js';
import { fixture, nextMessage, sleep } from '../helpers.js';
import * as ctxModule from '../../src/lockdep/context.js';

test("reset() in main while a worker holds a lock: the worker's later release is no bad-unlock", { timeout: 30000 }, async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const w = new Worker(fixture('lockdep-reset-worker'));
  try {
    await nextMessage(w, (m) => m === 'held');
    lockdep.reset(); // e.g. main's test teardown
    await sleep(100); // the worker has received the reset
    const kinds = nextMessage<string[]>(w, (m) => Array.isArray(m));
    w.postMessage('unlock');
    assert.deepEqual(await kinds, []);
  } finally {
    await w.terminate();
  }
  lockdep.reset();
});

test("this thread's reset() forgets its held locks; releasing one later is balanced, not a bad-unlock", () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const d = Domain.create({ name: 'rs-local', maxThreads: 2 });
  try {
    const A = lockdep.lockClass('rs.A');
    const m = d.mutex('rs.M');
    lockdep.acquire(A);
    const g = m.lockSync();
    lockdep.reset(); // a clean slate for this thread, as the kernel's lockdep_reset()
    lockdep.assertNotHeld(A);
    g.unlock(); // a guard's release
    lockdep.release(A); // a release by class (annotation API)
    assert.deepEqual(lockdep.reports().map((r) => r.kind), []);
    lockdep.release(A); // but a second release is still unbalanced
    assert.deepEqual(lockdep.reports().map((r) => r.kind), ['bad-unlock']);
  } finally {
    d.detach();
    lockdep.reset();
  }
});

/*
 * disable() stops lockdep seeing releases (primitives skip ld.release while `ld.on` is false, and so
 * does lockdep.release), so a hold it still remembered would stay held forever once enable() is
 * called again: a phantom that makes later valid code report (here 'invalid-wait': a lockSync()
 * "while C is held across a turn"; at the thread's end, 'held-at-exit').
 */
test('disable() while holding: released while disabled, not held after enable(); released after enable(), balanced', async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const d = Domain.create({ name: 'rs-disable', maxThreads: 2 });
  try {
    const [A, C] = ['rs.dis.A', 'rs.dis.C'].map((n) => lockdep.lockClass(n));
    const n = d.mutex('rs.dis.N');
    lockdep.acquire(C!);
    lockdep.disable();
    lockdep.release(C!); // not seen: lockdep is off
    await sleep(1);
    lockdep.enable({ action: 'collect' });
    n.lockSync().unlock(); // nothing is held
    assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), []);
    assert.deepEqual(ctxModule.debugCounts(), { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 });
    // held across disable/enable and released after: a balanced release, as after reset()
    lockdep.acquire(A!);
    lockdep.disable();
    await sleep(1);
    lockdep.enable({ action: 'collect' });
    lockdep.release(A!);
    assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), []);
  } finally {
    d.detach();
    lockdep.reset();
  }
});
