import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { newSharedMemory, sharedBufferOf, wordAtomics, type WordAtomics } from '../../src/domain/wasm-atomics.js';
import { Domain, PercpuRef } from '../../src/index.js';
import { code, until, withTimeout } from '../helpers.js';

const MODULE_URL = new URL('../../src/domain/wasm-atomics.js', import.meta.url).href;
const INDEX_URL = new URL('../../src/index.js', import.meta.url).href;

/** Each operation against the Atomics call it stands for, on twin words of one buffer. */
function sameAsAtomics(ax: WordAtomics, i32: Int32Array): void {
  const A = 10; // ax works on word A, Atomics on word B = A + 1, from equal starting values
  const B = 11;
  const steps: [string, (w: number) => number | undefined][] = [
    ['store -5', (w) => (w === A ? void ax.store(w, -5) : void Atomics.store(i32, w, -5))],
    ['load', (w) => (w === A ? ax.load(w) : Atomics.load(i32, w))],
    ['add 7', (w) => (w === A ? ax.add(w, 7) : Atomics.add(i32, w, 7))],
    ['add wraps at 2^31', (w) => (w === A ? ax.add(w, 0x7fffffff) : Atomics.add(i32, w, 0x7fffffff))],
    ['add a value past 2^32 (ToInt32)', (w) => (w === A ? ax.add(w, 2 ** 32 + 3) : Atomics.add(i32, w, 2 ** 32 + 3))],
    ['cas that fails', (w) => (w === A ? ax.cas(w, 12345, 1) : Atomics.compareExchange(i32, w, 12345, 1))],
    ['cas that succeeds', (w) => { const cur = i32[w]!; return w === A ? ax.cas(w, cur, -1) : Atomics.compareExchange(i32, w, cur, -1); }],
    ['add negative', (w) => (w === A ? ax.add(w, -2) : Atomics.add(i32, w, -2))],
    ['store past 2^32 (ToInt32)', (w) => (w === A ? void ax.store(w, 2 ** 32 + 9) : void Atomics.store(i32, w, 2 ** 32 + 9))],
  ];
  for (const [what, step] of steps) {
    const ra = step(A);
    const rb = step(B);
    assert.equal(ra, rb, `${what}: result`);
    assert.equal(i32[A], i32[B], `${what}: the word afterwards`);
  }
  assert.equal(i32[A], 9);
}

describe('wasm word atomics (domain/wasm-atomics.ts)', () => {
  it('load, store, add and cas on a shared WebAssembly.Memory do exactly what the Atomics calls do', () => {
    const { memory, sab } = newSharedMemory(65536);
    assert.ok(memory !== null, 'this Node has WebAssembly');
    assert.equal(sharedBufferOf(memory), sab);
    sameAsAtomics(wordAtomics(memory, sab), new Int32Array(sab));
  });

  it('without a memory (no WebAssembly) they are the Atomics calls themselves', () => {
    const sab = new SharedArrayBuffer(4096);
    sameAsAtomics(wordAtomics(null, sab), new Int32Array(sab));
  });

  it('a memory is rounded up to whole 64 KiB pages; anything else is not a shared memory', () => {
    const { sab } = newSharedMemory(65536 + 4);
    assert.equal(sab.byteLength, 2 * 65536);
    assert.equal(sharedBufferOf(new SharedArrayBuffer(8)), null);
    assert.equal(sharedBufferOf({ buffer: new SharedArrayBuffer(8) }), null);
    assert.equal(sharedBufferOf(null), null);
  });

  it('are atomic against Atomics on other threads: two workers (wasm add, wasm cas loop) and this thread (Atomics.add) count exactly', async () => {
    const { memory, sab } = newSharedMemory(65536);
    const i32 = new Int32Array(sab);
    const N = 200_000;
    const body = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(${JSON.stringify(MODULE_URL)}).then(({ wordAtomics }) => {
        const { memory, sab, kind, n } = workerData;
        const ax = wordAtomics(memory, sab);
        const go = new Int32Array(sab);
        Atomics.add(go, 2, 1); // ready
        while (Atomics.load(go, 1) === 0) {}
        if (kind === 'add') for (let i = 0; i < n; i++) ax.add(0, 1);
        else for (let i = 0; i < n; i++) { let c = ax.load(0); for (;;) { const x = ax.cas(0, c, c + 1); if (x === c) break; c = x; } }
        parentPort.postMessage('done');
      });`;
    const workers = ['add', 'cas'].map((kind) => new Worker(body, { eval: true, workerData: { memory, sab, kind, n: N } }));
    const done = workers.map((w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); }));
    try {
      await until(() => Atomics.load(i32, 2) === 2, 10_000, 'both workers at their start line'); // so all three overlap
      Atomics.store(i32, 1, 1);
      for (let i = 0; i < N; i++) Atomics.add(i32, 0, 1);
      await withTimeout(Promise.all(done), 20_000, 'workers');
      assert.equal(Atomics.load(i32, 0), 3 * N);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });

  it("a domain's handle carries its memory; a handle with another domain's memory, or none, is refused", () => {
    const d = Domain.create({ name: 'wasm-handle', maxThreads: 2 });
    const other = Domain.create({ name: 'wasm-handle-other', maxThreads: 2 });
    try {
      assert.ok(d.handle.memory !== null);
      assert.equal(sharedBufferOf(d.handle.memory), d.handle.sab);
      assert.throws(() => Domain.attach({ ...d.handle, memory: other.handle.memory }), code('ERR_BAD_HANDLE'));
      assert.throws(() => Domain.attach({ ...d.handle, memory: undefined } as never), code('ERR_BAD_HANDLE'));
      assert.throws(() => Domain.attach({ ...d.handle, memory: {} }), code('ERR_BAD_HANDLE'));
    } finally {
      d.detach();
      other.detach();
    }
  });

  it('a worker attached with a memory-less handle (null) uses the Atomics calls, and its killAll works', async () => {
    const d = Domain.create({ name: 'wasm-null-handle', maxThreads: 4 });
    const body = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(${JSON.stringify(INDEX_URL)}).then(async ({ Domain, PercpuRef }) => {
        const d = Domain.attach(workerData.handle);
        const refs = Array.from({ length: 50 }, (_, i) => d.percpuRef('w' + i));
        for (const r of refs) { r.get(); r.put(); }
        await PercpuRef.killAll(refs, { timeoutMs: 5000 });
        parentPort.postMessage(refs.every((r) => r.isZero()));
        d.detach();
      });`;
    const w = new Worker(body, { eval: true, workerData: { handle: { ...d.handle, memory: null } } });
    try {
      const ok = await withTimeout(new Promise((res, rej) => { w.once('message', res); w.once('error', rej); }), 15_000, 'worker killAll');
      assert.equal(ok, true);
    } finally {
      await w.terminate();
      d.detach();
    }
  });

  it('under node --jitless (no WebAssembly) a domain is a plain SharedArrayBuffer and killAll works', async () => {
    const script = `
      const { Domain, PercpuRef } = await import(${JSON.stringify(INDEX_URL)});
      const d = Domain.create({ name: 'jitless', bytes: 100000, maxThreads: 2 });
      const refs = Array.from({ length: 100 }, (_, i) => d.percpuRef('r' + i));
      refs[7].get();
      setTimeout(() => refs[7].put(), 10);
      await PercpuRef.killAll(refs, { timeoutMs: 5000 });
      console.log(JSON.stringify({ wasm: typeof WebAssembly, memory: d.handle.memory, bytes: d.handle.sab.byteLength, zero: refs.every((r) => r.isZero()) }));
      d.detach();`;
    const out = await new Promise<string>((res, rej) =>
      execFile(process.execPath, ['--jitless', '--no-warnings', '--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout) => (err ? rej(err) : res(stdout))),
    );
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { wasm: 'undefined', memory: null, bytes: 100000, zero: true });
  });

  it('killAll over refs of a wasm-backed domain still releases every ref exactly once', async () => {
    const d = Domain.create({ name: 'wasm-killall', maxThreads: 2 });
    try {
      assert.ok(d.handle.memory !== null);
      const released = new Array<number>(500).fill(0);
      const refs = Array.from({ length: 500 }, (_, i) => d.percpuRef(`k${i}`, { onRelease: () => released[i]!++ }));
      refs[3]!.get(2);
      setTimeout(() => refs[3]!.put(2), 10);
      await PercpuRef.killAll(refs, { timeoutMs: 5000 });
      await until(() => released.every((n) => n > 0), 3000, 'every onRelease');
      await new Promise((r) => setTimeout(r, 20)); // a second run of any of them would come now
      assert.ok(refs.every((r) => r.isZero()));
      assert.deepEqual(new Set(released), new Set([1]));
    } finally {
      d.detach();
    }
  });
});
