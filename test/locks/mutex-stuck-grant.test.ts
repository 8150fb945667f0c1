/*
 * SPEC §5: mutual exclusion and wake-ups across threads and async tasks, in any mix of lock() and
 * lockSync(). A starving async waiter gets the mutex handed over (HANDOFF grant). If its thread is
 * then blocked in a quiesce wait elsewhere, that waiter cannot run to take the grant, and nobody
 * holds the mutex logically: another thread must still be able to get it. Before the fix the
 * mutex stayed granted to the blocked thread, and a thread that the blocked one waits for could
 * never get it: a deadlock no lock order of the program explains (no context held the mutex).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, nextMessage, until } from '../helpers.js';

const worker = async (d: Domain): Promise<Worker> => {
  const w = d.spawn(new URL('./fixtures/mutex-review-worker.js', import.meta.url));
  await nextMessage(w, (m) => m.event === 'ready');
  return w;
};

describe('Mutex: a grant to an async waiter whose thread is blocked elsewhere', () => {
  const d = Domain.create({ name: 'mutex-stuck-grant', maxThreads: 4 });
  const workers: Worker[] = [];
  after(async () => {
    for (const w of workers) await w.terminate();
  });

  it('does not keep the mutex from a thread that the blocked thread waits for', async () => {
    const m1 = d.mutex('m1');
    const m2 = d.mutex('m2');
    const t = await worker(d);
    const u = await worker(d);
    workers.push(t, u);
    await call(u, 'hold', { name: 'm1', key: 'm1' });
    await call(u, 'hold', { name: 'm2', key: 'm2' });
    // t: an async task waits for m1 and, after a wake-up that did not give it m1, asks for a handoff.
    const acquired = nextMessage(t, (m) => m.key === 'a1', 20000);
    await call(t, 'lockAsync', { name: 'm1', key: 'a1', timeoutMs: 20000 });
    await until(() => m1.debugState().handoff > 0, 5000, 't asks for a handoff of m1');
    // t's synchronous code then blocks on m2 (held by u): its async task cannot run meanwhile.
    const tSync = call(t, 'lockSync', { name: 'm2', timeoutMs: 8000 }, 20000);
    await until(() => m2.debugState().waitersFlag, 5000, 't waits for m2');
    // u lets m1 go (handed to t's async waiter, which cannot take it), then wants it back before m2.
    await call(u, 'unlock', { key: 'm1' });
    const again = await call(u, 'lockSync', { name: 'm1', timeoutMs: 3000 }, 20000);
    await call(u, 'unlock', { key: 'm2' });
    const tr = await tSync;
    const a1 = await acquired;
    if (a1.event === 'acquired') await call(t, 'unlock', { key: 'a1' });
    assert.deepEqual({ uRelock: again.error ?? 'ok', tM2: tr.error ?? 'ok', a1: a1.event }, { uRelock: 'ok', tM2: 'ok', a1: 'acquired' });
    assert.equal(m1.isLocked(), false);
  });
});
