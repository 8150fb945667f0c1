/*
 * SPEC §2: abort rejects/throws ERR_ABORTED, "nothing was acquired". A signal that is already
 * aborted rejects the async form as it throws from the blocking one (synchronizeSync() checked it
 * first, as do mutex.lock() and completion.wait() even when they could succeed at once). Before
 * the fix, rcu.synchronize(), synchronizeExpedited(), barrier() and srcu.synchronize()/barrier()
 * resolved whenever the grace period could end without waiting (a one-thread domain), after
 * starting and ending a grace period the caller had already given up on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code } from '../helpers.js';

describe('an already-aborted signal', () => {
  it('rejects every async RCU/SRCU wait with ERR_ABORTED and drives no grace period', async () => {
    const d = Domain.create({ name: 'aborted-signal', maxThreads: 2 });
    const s = d.srcu('s');
    const signal = AbortSignal.abort();
    const before = d.rcu.stats.gracePeriods;
    const ops: [string, () => Promise<void>][] = [
      ['rcu.synchronize', () => d.rcu.synchronize({ signal })],
      ['rcu.synchronizeExpedited', () => d.rcu.synchronizeExpedited({ signal })],
      ['rcu.barrier', () => d.rcu.barrier({ signal })],
      ['srcu.synchronize', () => s.synchronize({ signal })],
      ['srcu.barrier', () => s.barrier({ signal })],
    ];
    for (const [name, op] of ops) {
      let res = 'resolved';
      try {
        await op();
      } catch (e) {
        res = (e as { code?: string }).code ?? String(e);
      }
      assert.equal(res, 'ERR_ABORTED', name);
    }
    assert.equal(d.rcu.stats.gracePeriods, before, 'an aborted wait drove a grace period');
    assert.throws(() => d.rcu.synchronizeSync({ signal }), code('ERR_ABORTED'));
    // still usable
    await d.rcu.synchronize();
    await s.synchronize();
  });

  it('rcu.synchronize() aborted while it waits for its turn to batch rejects, even if no reader is inside', async () => {
    const d = Domain.create({ name: 'aborted-signal-2', maxThreads: 2 });
    const ac = new AbortController();
    const p = d.rcu.synchronize({ signal: ac.signal });
    ac.abort();
    await assert.rejects(p, code('ERR_ABORTED'));
  });
});
