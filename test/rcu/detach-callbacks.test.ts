/*
 * call() callbacks queued by a thread that then detach()es (SPEC §3 barrier: "every call() queued
 * before it has run"; the kernel migrates an offlined CPU's callbacks and rcu_barrier waits for
 * them). barrier() must not treat the detached (FREE) slot as "its callbacks will never run" while
 * they still will, and the slot's QUEUED/DONE counters must not wedge every later barrier() once a
 * new worker takes the slot. Both for RCU and for SRCU's per-thread counters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, fixture, nextMessage, sleep } from '../helpers.js';

async function spawnReady(d: Domain): Promise<{ w: Worker; slot: number }> {
  const w = d.spawn(fixture('rcu-worker'));
  const m = await nextMessage(w, (x) => x.event === 'ready');
  return { w, slot: m.slot };
}

/** Poll a shared flag (the worker stores it) for up to `ms`. */
async function flagSet(flags: Int32Array, i: number, ms: number): Promise<boolean> {
  const t0 = performance.now();
  while (Atomics.load(flags, i) === 0) {
    if (performance.now() - t0 > ms) return false;
    await sleep(5);
  }
  return true;
}

/**
 * A new worker takes `slot`, freed by a detach(), and a barrier() with nothing pending anywhere
 * must not time out (stale QUEUED/DONE counters on the reused slot would wedge it).
 */
async function barrierOnReusedSlot(d: Domain, slot: number, workers: Worker[], barrier: (o: { timeoutMs: number }) => Promise<void>): Promise<void> {
  const w2 = await spawnReady(d);
  workers.push(w2.w);
  assert.equal(w2.slot, slot, 'the new worker should reuse the freed slot');
  let res = 'ok';
  try {
    await barrier({ timeoutMs: 2000 });
  } catch (e) {
    res = (e as { code?: string }).code ?? String(e);
  }
  assert.equal(res, 'ok', 'barrier() with no pending callbacks timed out (stale counters on a reused slot)');
}

/**
 * `hold()` keeps the flavour's grace periods from completing and resolves a release function.
 * A worker queues a callback and detaches while that holds; barrier() starts once the callback is
 * queued, and must not resolve before it has run. Then a new worker takes the freed slot and a
 * barrier() with nothing pending must not time out.
 */
async function scenario(d: Domain, barrier: (o: { timeoutMs: number }) => Promise<void>, hold: () => Promise<() => Promise<void>>, srcu?: string): Promise<void> {
  const workers: Worker[] = [];
  try {
    const w1 = await spawnReady(d);
    workers.push(w1.w);
    const release = await hold();
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const detached = call(w1.w, 'callThenDetach', { sab: flags.buffer, srcu }, 20000);
    assert.ok(await flagSet(flags, 1, 10000), 'the worker never queued its callback');
    let ranAtBarrier = -1;
    const b = barrier({ timeoutMs: 20000 }).then(() => void (ranAtBarrier = Atomics.load(flags, 0)));
    await sleep(50);
    await release();
    await b;
    assert.equal(ranAtBarrier, 1, 'barrier() resolved before a call() callback queued before it had run');
    await detached;

    // the detached worker's slot is taken by a new worker; nothing is pending anywhere
    assert.ok(await flagSet(flags, 0, 5000), 'the callback never ran');
    await barrierOnReusedSlot(d, w1.slot, workers, barrier);
  } finally {
    for (const w of workers) await w.terminate();
  }
}

describe('call() callbacks of a thread that detaches', () => {
  it('rcu: barrier() waits for them; a reused slot does not wedge later barriers', async () => {
    const d = Domain.create({ name: 'detach-cb-rcu', bytes: 1 << 20, maxThreads: 4 });
    const reader = await spawnReady(d);
    try {
      await scenario(
        d,
        (o) => d.rcu.barrier(o),
        async () => {
          // a long synchronous read section in another worker: no grace period ends before it
          const inside = nextMessage(reader.w, (m) => m.event === 'inside');
          const done = call(reader.w, 'readSpin', { ms: 400 }, 20000);
          await inside;
          return async () => void (await done);
        },
      );
    } finally {
      await reader.w.terminate();
    }
  });

  it('srcu: barrier() waits for them; a reused slot does not wedge later barriers', async () => {
    const d = Domain.create({ name: 'detach-cb-srcu', bytes: 1 << 20, maxThreads: 4 });
    const reader = await spawnReady(d);
    const s = d.srcu('detach-cb');
    try {
      await scenario(
        d,
        (o) => s.barrier(o),
        async () => {
          await call(reader.w, 'srcuLock', { name: 'detach-cb' });
          return async () => void (await call(reader.w, 'srcuUnlock', { name: 'detach-cb' }));
        },
        'detach-cb',
      );
    } finally {
      await reader.w.terminate();
    }
  });

  it('srcu: a callback that detaches its own thread does not leave the slot\'s counters behind', async () => {
    // The batch that ran it was never counted (the thread was detached when it ended), so the
    // slot's SRCU DONE stayed below QUEUED; a new occupant that never touches that Srcu did not
    // rebase it, and every later barrier() waited for it for ever.
    const d = Domain.create({ name: 'detach-in-cb-srcu', bytes: 1 << 20, maxThreads: 4 });
    const s = d.srcu('detach-in-cb');
    const workers: Worker[] = [];
    try {
      const w1 = await spawnReady(d);
      workers.push(w1.w);
      const flags = new Int32Array(new SharedArrayBuffer(8));
      await call(w1.w, 'detachInCallback', { sab: flags.buffer, srcu: 'detach-in-cb' });
      assert.ok(await flagSet(flags, 0, 10000), 'the callback never ran');
      await barrierOnReusedSlot(d, w1.slot, workers, (o) => s.barrier(o));
    } finally {
      for (const w of workers) await w.terminate();
    }
  });
});
