import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, code, sleep, spawnReady, withTimeout } from '../helpers.js';

describe('Completion', () => {
  let d: Domain;
  let w1: Worker;

  before(async () => {
    d = Domain.create({ name: 'completion-test', maxThreads: 8 });
    w1 = await spawnReady(d, 'locks-worker');
  });
  after(async () => {
    await w1.terminate();
  });

  it('complete() releases exactly one waiter; completeAll() releases all and stays done; reinit()', async () => {
    const c = d.completion('one');
    let passed = 0;
    const ws = [0, 1, 2].map(() => c.wait({ timeoutMs: 5000 }).then(() => passed++));
    await sleep(20);
    assert.equal(passed, 0);
    c.complete();
    await sleep(50);
    assert.equal(passed, 1);
    c.complete();
    await sleep(50);
    assert.equal(passed, 2);
    c.completeAll();
    await withTimeout(Promise.all(ws), 2000, 'waiters');
    assert.equal(passed, 3);
    assert.equal(c.tryWait(), true);
    c.waitSync({ timeoutMs: 10 }); // stays done
    c.reinit();
    assert.equal(c.tryWait(), false);
    c.complete();
    assert.equal(c.tryWait(), true);
    assert.equal(c.tryWait(), false);
  });

  it('works across threads: a worker blocked in waitSync is released by complete() here, and the reverse', async () => {
    const c = d.completion('cross');
    const r = call(w1, 'waitSync', { name: 'cross' });
    await sleep(50);
    assert.equal(c.debugState().waiters, 1);
    c.complete();
    assert.equal((await withTimeout(r, 3000, 'worker waitSync')).error, undefined);
    const p = c.wait({ timeoutMs: 5000 });
    await call(w1, 'complete', { name: 'cross' });
    await withTimeout(p, 3000, 'wait');
  });

  it('timeout and abort on wait/waitSync leave no waiter behind and consume nothing', async () => {
    const c = d.completion('timeouts');
    await assert.rejects(c.wait({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    assert.throws(() => c.waitSync({ timeoutMs: 40 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(c.wait({ signal: ac.signal }), code('ERR_ABORTED'));
    await assert.rejects(c.wait({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.throws(() => c.waitSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.deepEqual(c.debugState(), { done: 0, waiters: 0 });
    c.complete();
    assert.equal(c.tryWait(), true, 'the done was not eaten by a timed-out waiter');
  });

  it('signaller: complete() through it, dispose ends the section without completing', async () => {
    const c = d.completion('sig');
    const s = c.signaller();
    const p = c.wait({ timeoutMs: 3000 });
    s.complete();
    await withTimeout(p, 2000, 'wait');
    {
      using s2 = c.signaller();
      void s2;
    }
    assert.equal(c.tryWait(), false);
    assert.ok(c.lockdepClass.name === 'sig');
  });
});
