/*
 * SPEC §2/§5: wake-ups hold; a lock() that times out must have had no chance to get the lock.
 * A waiter that lost a wake-up race registers a handoff request (HANDOFF = id), re-tries once,
 * then sleeps on HANDOFF. An unlock that looked at HANDOFF just BEFORE the registration and
 * stores LOCK = 0 just AFTER the re-try released normally and woke only the sleepers on LOCK:
 * the requester slept on a free mutex until its wait slice (200 ms) ran out, and a lock() with a
 * shorter timeout failed with ERR_TIMEOUT although the mutex had been free for most of it.
 * The worker forces that interleaving (an Atomics.load hook, fixtures/mutex-review-worker.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, nextMessage, until } from '../helpers.js';

describe('Mutex: a handoff request registered while the owner unlocks', () => {
  const d = Domain.create({ name: 'mutex-handoff-register-race', maxThreads: 4 });
  let w: Worker | undefined;
  after(async () => {
    await w?.terminate();
  });

  it('is not left asleep on a free mutex', async () => {
    const m = d.mutex('m');
    w = d.spawn(new URL('./fixtures/mutex-review-worker.js', import.meta.url));
    await nextMessage(w, (x) => x.event === 'ready');
    await call(w, 'hold', { name: 'm', key: 'm' });
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const unlocked = call(w, 'unlockRacing', { name: 'm', key: 'm', flag: flag.buffer }, 20000);
    // Well under the 200 ms wait slice, far above what the handover itself takes.
    const p = m.lock({ timeoutMs: 190 }).then(
      (g) => (g.unlock(), 'ok'),
      (e: { code?: string }) => e.code ?? String(e),
    );
    await until(() => m.debugState().handoff > 0, 5000, 'the waiter registers a handoff request');
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const r = await unlocked;
    assert.deepEqual({ hooked: r.hooked, error: r.error }, { hooked: true, error: undefined });
    assert.equal(await p, 'ok');
    assert.deepEqual(m.debugState(), { owner: -1, waitersFlag: false, handoff: 0 });
  });
});
