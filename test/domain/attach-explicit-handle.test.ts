/*
 * A worker started by domain.spawn() that attaches with an explicit handle (passed in workerData,
 * as code written for plain Workers does) takes the slot spawn() reserved for it, not a second
 * one: a domain with maxThreads N holds N such threads (SPEC §1, ERR_DOMAIN_FULL only for "more
 * threads than maxThreads"). Before the fix the reservation stayed STARTING beside the worker's
 * own slot until it exited, and the worker threw ERR_DOMAIN_FULL in a domain that had room.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, fixture, nextMessage } from '../helpers.js';

describe('Domain.attach(handle) in a spawned worker', () => {
  it('claims the reservation spawn() made for it (maxThreads 2: parent + one worker)', async () => {
    const d = Domain.create({ name: 'explicit-handle', maxThreads: 2 });
    const w = d.spawn(fixture('rcu-review-worker'), { workerData: { explicitHandle: true, handle: d.handle } });
    try {
      const failed = new Promise<string>((resolve) => w.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message)));
      const m = await Promise.race([nextMessage(w, (x) => x.event === 'ready'), failed]);
      assert.equal(typeof m, 'object', `the worker failed to attach: ${String(m)}`);
      assert.equal((m as { slot: number }).slot, 1);
      assert.match(d.describeThread(1), /alive/);
    } finally {
      await w.terminate();
    }
  });

  it('a handle that arrives later through postMessage gives this thread the same Domain, not a second slot', async () => {
    const d = Domain.create({ name: 'handle-by-message', maxThreads: 4 });
    const w = d.spawn(fixture('rcu-review-worker'));
    try {
      await nextMessage(w, (x) => x.event === 'ready');
      const r = await call(w, 'attachAgain', { handle: d.handle });
      assert.equal(r.error, undefined, JSON.stringify(r));
      assert.deepEqual([r.same, r.againSlot], [true, r.slot], JSON.stringify(r));
      assert.doesNotMatch(d.describeThread(2), /alive/, 'no second slot was taken');
    } finally {
      await w.terminate();
    }
  });
});
