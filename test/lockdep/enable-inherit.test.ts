/*
 * lockdep.enable() in a thread also enables lockdep in the workers it starts afterwards (with the
 * same options), so an order taken in such a worker meets the reverse order taken here; disable()
 * stops that for workers started after it; a worker already running keeps its own setting.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { lockdep } from '../../src/lockdep/index.js';
import { until, withTimeout } from '../helpers.js';

const LOCKDEP_URL = new URL('../../src/lockdep/index.js', import.meta.url).href;

/** A worker that reports whether lockdep is on in it, then (on 'take') takes `order` nested with annotations. */
function start(): Worker {
  return new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(LOCKDEP_URL)}).then(({ lockdep }) => {
       parentPort.postMessage({ enabled: lockdep.enabled });
       parentPort.on('message', (order) => {
         const cls = order.map((n) => lockdep.lockClass(n));
         for (const c of cls) lockdep.acquire(c);
         for (const c of [...cls].reverse()) lockdep.release(c);
         parentPort.postMessage('taken');
       });
     });`,
    // QUIESCE_LOCKDEP=1 (the suite's lockdep run) would enable every worker from its start anyway
    { eval: true, env: { ...process.env, QUIESCE_LOCKDEP: '' } },
  );
}

function next(w: Worker): Promise<unknown> {
  return withTimeout(new Promise((res, rej) => { w.once('message', res); w.once('error', rej); }), 10_000, 'worker message');
}

describe('lockdep.enable() reaches workers started afterwards', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it('a worker started after enable() has lockdep on, and its B->A closes a cycle with A->B taken here', async () => {
    const before = start(); // started while lockdep is off here: stays off
    try {
      assert.deepEqual(await next(before), { enabled: false });
      lockdep.enable({ action: 'collect', stacks: false });
      lockdep.reset();
      const w = start();
      try {
        assert.deepEqual(await next(w), { enabled: true });
        const A = lockdep.lockClass('inherit.A');
        const B = lockdep.lockClass('inherit.B');
        lockdep.acquire(A);
        lockdep.acquire(B);
        lockdep.release(B);
        lockdep.release(A);
        w.postMessage(['inherit.B', 'inherit.A']);
        assert.equal(await next(w), 'taken');
        await until(() => lockdep.reports().some((r) => r.kind === 'circular'), 10_000, 'the circular report');
        const r = lockdep.reports().find((x) => x.kind === 'circular')!;
        assert.deepEqual([...r.classes].sort(), ['inherit.A', 'inherit.B']);
        assert.match(r.text, /<stacks off>/, 'the worker has the options of the enable() call');
      } finally {
        await w.terminate();
      }
    } finally {
      await before.terminate();
    }
  });

  it('after disable(), workers start with lockdep off again', async () => {
    lockdep.enable({ action: 'collect' });
    lockdep.disable();
    const w = start();
    try {
      assert.deepEqual(await next(w), { enabled: false });
    } finally {
      await w.terminate();
    }
  });
});
