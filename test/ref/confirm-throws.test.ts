/*
 * A killAndConfirm() callback that throws is the caller's bug, reported as an uncaught exception
 * (as an onRelease that throws is), never thrown out of whatever drives the switch: a *Sync drain
 * on that thread, or detach(), which completes the thread's own switches and must then go on to
 * detach every other object (it used to stop half-way, leaving the other refs' fast paths writing
 * a slot it was giving up).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { call, workerPool } from '../helpers.js';

describe('PercpuRef.killAndConfirm: a callback that throws', () => {
  const d = Domain.create({ name: 'confirm-throws', maxThreads: 4 });
  const pool = workerPool(d, 'ref-confirm-throw-worker');
  after(() => pool.stop());

  it('drainSync() that drives the switch returns; the error is an uncaught exception', async () => {
    const w = await pool.spawn();
    const r = await call(w, 'drainSync', { name: 'ct.drain' });
    assert.equal(r.threw, 'ok');
    assert.deepEqual(r.uncaught, ['confirm callback failed']);
    assert.equal(r.released, true);
  });

  it('detach() that completes the switch still detaches everything', async () => {
    const w = await pool.spawn();
    const r = await call(w, 'detach', { name: 'ct.detach' });
    assert.equal(r.threw, 'ok');
    assert.deepEqual(r.uncaught, ['confirm callback failed']);
    assert.equal(r.getAfter, 'ERR_NOT_ATTACHED', 'the other ref was detached too');
  });
});
