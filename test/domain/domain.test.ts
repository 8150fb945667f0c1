import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LAYOUT_VERSION } from '../../src/domain/layout.js';
import { Domain, QuiesceError } from '../../src/index.js';
import { code, fixture, nextMessage, sleep, withTimeout } from '../helpers.js';

/** Wait until slot `t` is in the state described by describeThread(t). */
async function waitForState(d: Domain, t: number, word: string): Promise<void> {
  const t0 = performance.now();
  while (!d.describeThread(t).includes(word)) {
    if (performance.now() - t0 > 5000) throw new Error(`slot ${t} never became ${word}: ${d.describeThread(t)}`);
    await sleep(5);
  }
}

describe('Domain', () => {
  it('create registers the calling thread; options are validated', () => {
    const d = Domain.create({ name: 'd1', maxThreads: 4, bytes: 1 << 20 });
    assert.equal(d.threadIndex, 0);
    assert.equal(d.name, 'd1');
    assert.equal(d.maxThreads, 4);
    assert.throws(() => Domain.create({ bytes: 100 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Domain.create({ maxThreads: 0 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Domain.create({ name: '' }), code('ERR_INVALID_ARG'));
  });

  it('spawn passes workerData and argv through unchanged; the worker attaches with no argument', async () => {
    const d = Domain.create({ name: 'd2', maxThreads: 4 });
    const w = d.spawn(fixture('domain-worker'), { workerData: { hello: [1, 2, 3] }, argv: ['--x', 'y'] });
    const m = await nextMessage(w, (x) => x.event === 'ready');
    assert.deepEqual(m.workerData, { hello: [1, 2, 3] });
    assert.deepEqual(m.argv, ['--x', 'y']);
    assert.equal(m.same, true, 'attach() twice gives the same Domain');
    assert.ok(m.slot > 0 && m.slot < 4);
    await w.terminate();
    await waitForState(d, m.slot, 'dead');
  });

  it('the handle is structured-cloneable and works with a plain Worker', async () => {
    const d = Domain.create({ name: 'd3', maxThreads: 4 });
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}).then(({ Domain }) => {
        const d = Domain.attach(workerData.handle);
        parentPort.postMessage({ slot: d.threadIndex, name: d.name });
      });`;
    const w = new Worker(src, { eval: true, workerData: { handle: d.handle } });
    const m = await nextMessage(w);
    assert.equal(m.name, 'd3');
    assert.ok(m.slot >= 1);
    await w.terminate();
  });

  it('a worker started with a plain new Worker is watched too: its death releases grace periods', async () => {
    const d = Domain.create({ name: 'd3b', maxThreads: 4 });
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}).then(({ Domain }) => {
        const d = Domain.attach(workerData.handle);
        d.rcu.readLock(); // and never leaves
        parentPort.postMessage({ slot: d.threadIndex });
        for (;;) {}
      });`;
    const w = new Worker(src, { eval: true, workerData: { handle: d.handle } });
    const m = await nextMessage(w);
    await assert.rejects(d.rcu.synchronize({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    await w.terminate();
    await waitForState(d, m.slot, 'dead');
    await withTimeout(d.rcu.synchronize(), 3000, 'synchronize after the plain worker died');
  });

  it('a crashed worker and a worker that exits are marked dead; detach frees the slot', async () => {
    const d = Domain.create({ name: 'd4', maxThreads: 4 });
    const w1 = d.spawn(fixture('domain-worker'));
    w1.on('error', () => {});
    const m1 = await nextMessage(w1, (x) => x.event === 'ready');
    w1.postMessage({ cmd: 'crash' });
    await waitForState(d, m1.slot, 'dead');

    const w2 = d.spawn(fixture('domain-worker'));
    const m2 = await nextMessage(w2, (x) => x.event === 'ready');
    w2.postMessage({ cmd: 'detach' });
    await nextMessage(w2, (x) => x.event === 'detached');
    await waitForState(d, m2.slot, 'free');
    await w2.terminate();
    await sleep(20);
    assert.match(d.describeThread(m2.slot), /free/, 'a detached worker that exits is not marked dead');
  });

  it('ERR_DOMAIN_FULL when more threads attach than maxThreads; dead slots are not reused', async () => {
    const d = Domain.create({ name: 'd5', maxThreads: 2 });
    const w = d.spawn(fixture('domain-worker'));
    await nextMessage(w, (x) => x.event === 'ready');
    assert.throws(() => d.spawn(fixture('domain-worker')), code('ERR_DOMAIN_FULL'));
    await w.terminate();
    await sleep(20);
    assert.throws(() => d.spawn(fixture('domain-worker')), code('ERR_DOMAIN_FULL'));
  });

  it('ERR_BAD_HANDLE for corrupt handles; ERR_NOT_ATTACHED without one on a thread not spawned by a domain', () => {
    assert.throws(() => Domain.attach({} as never), code('ERR_BAD_HANDLE'));
    assert.throws(() => Domain.attach({ kind: 'quiesce.domain', version: 999, sab: new SharedArrayBuffer(8192) } as never), code('ERR_BAD_HANDLE'));
    assert.throws(() => Domain.attach({ kind: 'quiesce.domain', version: LAYOUT_VERSION, sab: new SharedArrayBuffer(8192) } as never), code('ERR_BAD_HANDLE'));
    assert.throws(() => Domain.attach(), code('ERR_NOT_ATTACHED'));
  });

  it('named objects: same name, same object; kind or options mismatch is ERR_KIND_MISMATCH', () => {
    const d = Domain.create({ name: 'd6', maxThreads: 2 });
    const a = d.srcu('x');
    assert.equal(d.srcu('x'), a);
    assert.throws(() => d.srcu('x', { class: 'other' }), code('ERR_KIND_MISMATCH'));
    assert.throws(() => d.srcu(''), code('ERR_INVALID_ARG'));
  });

  it('ERR_OUT_OF_SHARED_MEMORY names the domain and the size', () => {
    const d = Domain.create({ name: 'tiny', maxThreads: 4, bytes: 65536 });
    let err: unknown;
    try {
      for (let i = 0; i < 100000; i++) d.srcu(`s${i}`);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof QuiesceError && err.code === 'ERR_OUT_OF_SHARED_MEMORY', String(err));
    assert.match((err as Error).message, /tiny/);
    assert.match((err as Error).message, /65536/);
  });

  it('after detach every use throws ERR_NOT_ATTACHED', () => {
    const d = Domain.create({ name: 'd7', maxThreads: 2 });
    const s = d.srcu('s');
    d.detach();
    assert.throws(() => d.threadIndex, code('ERR_NOT_ATTACHED'));
    assert.throws(() => d.srcu('t'), code('ERR_NOT_ATTACHED'));
    assert.throws(() => s.call(() => {}), code('ERR_NOT_ATTACHED'));
  });

  it('a worker that exits on its own is marked dead and never holds up a grace period', async () => {
    const d = Domain.create({ name: 'd8', maxThreads: 4 });
    const w = d.spawn(fixture('domain-worker'));
    const m = await nextMessage(w, (x) => x.event === 'ready');
    w.postMessage({ cmd: 'exit' });
    await waitForState(d, m.slot, 'dead');
    await withTimeout(d.rcu.synchronize(), 2000, 'synchronize');
  });
});
