/*
 * lockdep.enable() in a thread also enables lockdep in the workers it starts afterwards (with the
 * same options), so an order taken in such a worker meets the reverse order taken here; disable()
 * stops that for workers started after it; a worker already running keeps its own setting.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { Worker, getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { INHERIT_KEY } from '../../src/lockdep/engine.js';
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
         // Wait until this thread's graph has the parent's reverse edge, so that THIS thread closes
         // the cycle and writes the report with its own (inherited) options.
         const seen = () => lockdep.graph().edges.some((e) => e.from === order[1] && e.to === order[0]);
         const take = () => {
           if (!seen()) return void setTimeout(take, 5);
           const cls = order.map((n) => lockdep.lockClass(n));
           for (const c of cls) lockdep.acquire(c);
           for (const c of [...cls].reverse()) lockdep.release(c);
           parentPort.postMessage('taken');
         };
         take();
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
    lockdep.disable(); // off here first (the suite's QUIESCE_LOCKDEP=1 run enables it at load)
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

  it('a second copy of quiesce loaded later in the enabling thread itself does not come up enabled', async () => {
    lockdep.enable({ action: 'collect' });
    const passedOn = getEnvironmentData(INHERIT_KEY); // what enable() left for this thread's workers
    lockdep.disable();
    setEnvironmentData(INHERIT_KEY, passedOn); // lockdep off here, with those options still set
    // A fresh instance of hooks.js (its load-time check runs again), sharing this engine; without
    // QUIESCE_LOCKDEP, which would rightly enable every copy (the suite's lockdep run sets it).
    const env = process.env.QUIESCE_LOCKDEP;
    delete process.env.QUIESCE_LOCKDEP;
    try {
      await import(new URL(`../../src/lockdep/hooks.js?copy=${Date.now()}`, import.meta.url).href);
    } finally {
      if (env !== undefined) process.env.QUIESCE_LOCKDEP = env;
    }
    assert.equal(lockdep.enabled, false, "the thread's own options are for the workers it starts");
  });

  it('under QUIESCE_LOCKDEP=1, a worker started with an env of its own (no QUIESCE_LOCKDEP) has lockdep on too', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      import(${JSON.stringify(LOCKDEP_URL)}).then(() => {
        const w = new Worker(
          "const { parentPort } = require('node:worker_threads'); import(" + JSON.stringify(${JSON.stringify(LOCKDEP_URL)}) + ").then(({ lockdep }) => parentPort.postMessage(lockdep.enabled));",
          { eval: true, env: {} },
        );
        w.once('message', (on) => { console.log(JSON.stringify({ on })); w.terminate(); });
      });`;
    const out = await new Promise<string>((res, rej) =>
      execFile(process.execPath, ['-e', script], { timeout: 20_000, env: { ...process.env, QUIESCE_LOCKDEP: '1', QUIESCE_LOCKDEP_ACTION: 'collect' } }, (err, stdout) => (err ? rej(err) : res(stdout))),
    );
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { on: true });
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
