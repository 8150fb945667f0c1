/*
 * SPEC §1: a worker that dies must not wedge the domain. Named objects are created under one
 * registry lock per domain; a worker terminated while inside an insert (terminate() can land
 * anywhere) held it for good before the fix, so every later creation of a new name, on every
 * thread, waited forever. Now a waiter takes the lock over from a holder whose slot is dead.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { ThreadState } from '../../src/domain/layout.js';
import { call, nextMessage, until, workerPool } from '../helpers.js';

describe('registry: the holder of the insert lock is terminated mid-insert', () => {
  const d = Domain.create({ name: 'registry-lock-death', maxThreads: 4 });
  const pool = workerPool(d, 'registry-lock-worker');
  after(() => pool.stop());

  it('another thread creates new names afterwards; the cut-short insert left nothing behind', async () => {
    const holder = await pool.spawn();
    const other = await pool.spawn();
    const holding = nextMessage(holder, (m) => m.event === 'holding', 5000);
    holder.postMessage({ id: -1, cmd: 'holdRegistryLock', name: 'half-made' });
    await holding;
    const threads = (d as unknown as { core: { threads: { state(t: number): number }; g: { maxThreads: number } } }).core;
    await holder.terminate();
    await until(() => [...Array(threads.g.maxThreads).keys()].some((t) => threads.threads.state(t) === ThreadState.DEAD), 5000, 'the holder is marked dead');
    const r = await call(other, 'create', { name: 'after-death' }, 5000);
    assert.deepEqual(r.error ?? 'ok', 'ok');
    // This thread too, and the name the dead insert was making is free for a real object.
    d.rwsem('after-death-2');
    const c = d.completion('half-made');
    c.complete();
    assert.equal(c.tryWait(), true);
  });
});
