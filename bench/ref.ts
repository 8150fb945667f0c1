/*
 * PercpuRef benchmarks (issue: PercpuRef), each against a baseline measured in the same run:
 *  - get+put pair vs a plain Int32Array ++/-- pair: target at most 1.5x;
 *  - two threads on one PercpuRef vs two threads on one shared Atomics counter (throughput):
 *    target at least 10x;
 *  - PercpuRef.killAll(10,000 refs) + drain vs one rcu.synchronize(): target at most 3x. Both are
 *    measured with the same two threads attached (main + one idle worker), so both grace periods
 *    need the same round trip, in 5 alternating rounds (medians). Eight warm-up teardowns of 10,000
 *    other refs run first, as every other figure here is measured after warm-up (the first few
 *    calls are mostly V8 compiling the fold loop, see WARMUPS);
 *  - (floor, no target) what any killAll of 10,000 refs must at least do besides its grace period:
 *    mark each ref (a plain store, as the kernel does under its global percpu_ref_switch_lock) and
 *    fold its count with one Atomics read-modify-write (the kernel's atomic_long_add; other threads
 *    update the count atomically meanwhile, and the add that reaches zero releases), here on 10,000
 *    bare cache-line headers with no ref logic at all, against the same synchronize(). killAll
 *    waits for a grace period AND does this work, so its ratio is at least 1 + this ratio;
 *  - (model, no target) killAll's own seven Atomics calls per ref on the same bare headers, with no
 *    ref logic: the share of killAll's work that is Atomics calls (V8 11 calls a builtin for each);
 *  - shared bytes per ref per thread: target at most 8.
 */
import { Domain, PercpuRef } from '../src/index.js';
import { CACHE_LINE_WORDS, PR_PERCPU_BYTES } from '../src/domain/layout.js';
import { consume, measurePair, row, type Row } from './harness.js';

const INDEX_URL = new URL('../src/index.js', import.meta.url).href;

/** Worker body (eval'd): hammer a ref or an Atomics counter for `ms` once started; report pairs done. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
import(${JSON.stringify(INDEX_URL)}).then(({ Domain }) => {
  const d = Domain.attach();
  parentPort.on('message', (m) => {
    const start = new Int32Array(m.start);
    while (Atomics.load(start, 0) === 0) {}
    let ops = 0;
    const end = performance.now() + m.ms;
    if (m.kind === 'ref') {
      const ref = d.percpuRef(m.name);
      while (performance.now() < end) { for (let i = 0; i < 10000; i++) { ref.get(); ref.put(); } ops += 10000; }
    } else {
      const c = new Int32Array(m.counter);
      while (performance.now() < end) { for (let i = 0; i < 10000; i++) { Atomics.add(c, 0, 1); Atomics.sub(c, 0, 1); } ops += 10000; }
    }
    parentPort.postMessage(ops);
  });
  parentPort.postMessage('ready');
});
`;

export async function benchRef(): Promise<Row[]> {
  const d = Domain.create({ name: 'bench-ref', bytes: 256 << 20, maxThreads: 4 });
  const rows: Row[] = [];

  // 1. the fast path
  const ref = d.percpuRef('bench.fast');
  const plain = new Int32Array(new SharedArrayBuffer(64));
  const r1 = measurePair(
    (n) => {
      for (let i = 0; i < n; i++) {
        ref.get();
        ref.put();
      }
      consume(n);
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        plain[0]!++;
        plain[0]!--;
      }
      consume(plain[0]!);
    },
    2_000_000,
  );
  rows.push(row('ref', 'get+put pair', r1.figure, 'plain Int32Array ++/-- pair', r1.baseline, 'ns', { kind: 'within', x: 1.5 }));

  // 2. two threads on one ref vs one shared Atomics counter
  const w = d.spawn(WORKER, { eval: true });
  await new Promise((r) => w.once('message', r));
  const shared = d.percpuRef('bench.shared');
  const counter = new Int32Array(new SharedArrayBuffer(64));
  const twoThreads = async (kind: 'ref' | 'atomic', ms: number): Promise<number> => {
    const start = new Int32Array(new SharedArrayBuffer(4));
    const other = new Promise<number>((r) => w.once('message', r));
    w.postMessage({ kind, ms, start: start.buffer, counter: counter.buffer, name: 'bench.shared' });
    Atomics.store(start, 0, 1);
    let ops = 0;
    const end = performance.now() + ms;
    if (kind === 'ref') {
      while (performance.now() < end) {
        for (let i = 0; i < 10000; i++) {
          shared.get();
          shared.put();
        }
        ops += 10000;
      }
    } else {
      while (performance.now() < end) {
        for (let i = 0; i < 10000; i++) {
          Atomics.add(counter, 0, 1);
          Atomics.sub(counter, 0, 1);
        }
        ops += 10000;
      }
    }
    return ((ops + (await other)) / ms) * 1000;
  };
  const refRates: number[] = [];
  const atomicRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    refRates.push(await twoThreads('ref', 150));
    atomicRates.push(await twoThreads('atomic', 150));
  }
  const med = (x: number[]): number => [...x].sort((a, b) => a - b)[x.length >> 1]!;
  rows.push(row('ref', '2 threads on one PercpuRef (M pairs/s)', med(refRates) / 1e6, '2 threads on one Atomics counter', med(atomicRates) / 1e6, 'M/s', { kind: 'faster', x: 10 }));

  // 3. killAll(10,000) + drain vs one grace period: ROUNDS alternating rounds (one synchronize(),
  // then killAll of 10,000 fresh refs), median of each; the grace periods used are counted.
  const batch = (k: number): PercpuRef[] => Array.from({ length: 10_000 }, (_, i) => d.percpuRef(`bench.many.${k}.${i}`));
  // V8 compiles the fold loop only after several teardowns (one call each, 10,000 iterations: OSR,
  // then a full compile, measured: the fold of 10,000 refs takes ~3 ms until about the 7th call and
  // ~1 ms after), so the figure is the steady state only after WARMUPS of them.
  const WARMUPS = 8;
  for (let k = 0; k < WARMUPS; k++) await PercpuRef.killAll(batch(k), { timeoutMs: 10_000 }); // warm-up
  const ROUNDS = 5;
  // All refs exist before the first round: the first grace period after creating 10,000 named
  // objects is slow (tens of ms: GC and the registry's growth), which would flatter the ratio.
  const batches = Array.from({ length: ROUNDS }, (_, k) => batch(WARMUPS + k));
  for (let i = 0; i < 3; i++) await d.rcu.synchronize();
  const gps: number[] = [];
  const kills: number[] = [];
  let maxUsed = 0;
  for (let k = 0; k < ROUNDS; k++) {
    const refs = batches[k]!;
    let t0 = performance.now();
    await d.rcu.synchronize();
    gps.push(performance.now() - t0);
    const gp0 = d.rcu.stats.gracePeriods;
    t0 = performance.now();
    await PercpuRef.killAll(refs, { timeoutMs: 10_000 });
    kills.push(performance.now() - t0);
    maxUsed = Math.max(maxUsed, d.rcu.stats.gracePeriods - gp0);
  }
  // The floor: on each of 10,000 one-line headers a plain MARK store and one FOLD RMW, alternating
  // with a GP. Warmed up like killAll (FLOOR_WARMUPS calls first) and in a plain function: a loop in
  // the async body here would run unoptimised (kill-all.ts markAll), which once made this "floor"
  // 4-6x slower than the loop itself and flattered killAll's gap.
  const N = 10_000;
  const heads = new Int32Array(new SharedArrayBuffer(N * CACHE_LINE_WORDS * 4));
  const FLOOR_WARMUPS = 20;
  for (let k = 0; k < FLOOR_WARMUPS; k++) {
    floorArm(heads);
    consume(floorPass(heads, N));
  }
  const floorGps: number[] = [];
  const floors: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    floorArm(heads);
    let t0 = performance.now();
    await d.rcu.synchronize();
    floorGps.push(performance.now() - t0);
    t0 = performance.now();
    consume(floorPass(heads, N));
    floors.push(performance.now() - t0);
  }
  // The model: killAll's seven Atomics calls per ref (kill-all.ts steps 1 and 3: the mark's CAS and
  // owner store; the claim CAS, COUNT CAS, MODE CAS, release count and waiter check) on the same
  // bare headers, with no ref logic: how much of killAll's work is the Atomics calls alone.
  const models: number[] = [];
  for (let k = 0; k < FLOOR_WARMUPS + ROUNDS; k++) {
    modelArm(heads);
    const t0 = performance.now();
    consume(modelPass(heads, N));
    if (k >= FLOOR_WARMUPS) models.push(performance.now() - t0);
  }
  await w.terminate(); // idle but attached until here: both the figure's and the baseline's grace periods include it
  rows.push(row('ref', `killAll(10,000)+drain (<= ${maxUsed} grace period${maxUsed === 1 ? '' : 's'})`, med(kills), 'one rcu.synchronize()', med(gps), 'ms', { kind: 'within', x: 3 }));
  rows.push(row('ref', '(floor) mark + 1 Atomics RMW on each of 10,000 headers, no GP', med(floors), 'one rcu.synchronize()', med(floorGps), 'ms', { kind: 'info', x: 0 }, 'killAll must wait for a GP and do at least this'));
  rows.push(row('ref', "(model) killAll's 7 Atomics calls on each of 10,000 headers, no GP", med(models), 'one rcu.synchronize()', med(gps), 'ms', { kind: 'info', x: 0 }, 'the part of killAll that is Atomics calls'));

  // 4. memory
  rows.push(row('ref', 'shared bytes per ref per thread', PR_PERCPU_BYTES, 'one padded cache line', 64, 'bytes', { kind: 'max', x: 8 }));
  d.detach();
  return rows;
}

/** The floor's set-up: every header live (MARK 0) with one reference (FOLD count 1). */
function floorArm(heads: Int32Array): void {
  for (let h = 0; h < heads.length; h += CACHE_LINE_WORDS) {
    heads[h] = 0;
    heads[h + 1] = 1;
  }
}

/** The floor's pass: mark each header (plain store) and fold its count with one Atomics RMW. */
function floorPass(heads: Int32Array, n: number): number {
  let zero = 0;
  for (let i = 0, h = 0; i < n; i++, h += CACHE_LINE_WORDS) {
    heads[h] = 1; // MARK
    if (Atomics.add(heads, h + 1, -1) === 1) zero++; // FOLD: the add that reaches zero releases
  }
  return zero;
}

/** The model's set-up: every header live (MODE 0, OWNER 0, COUNT 1, RELEASES 0, WAITERS 0). */
function modelArm(heads: Int32Array): void {
  for (let h = 0; h < heads.length; h += CACHE_LINE_WORDS) {
    heads[h] = 0;
    heads[h + 1] = 0;
    heads[h + 2] = 1;
    heads[h + 3] = 0;
    heads[h + 4] = 0;
  }
}

/** The model's pass: per header, killAll's mark (2 Atomics calls) and its fold's common case (5). */
function modelPass(heads: Int32Array, n: number): number {
  const MARK = 7;
  const ME = 3;
  let released = 0;
  for (let i = 0, h = 0; i < n; i++, h += CACHE_LINE_WORDS) {
    if (Atomics.compareExchange(heads, h, 0, MARK) !== 0) continue; // MODE CAS
    Atomics.store(heads, h + 1, ME); // owner
  }
  for (let i = 0, h = 0; i < n; i++, h += CACHE_LINE_WORDS) {
    if (heads[h] !== MARK) continue; // plain filter
    if (Atomics.compareExchange(heads, h + 1, ME, ME | 0x100) !== ME) continue; // claim
    const c = heads[h + 2]!;
    if (Atomics.compareExchange(heads, h + 2, c, 0) !== c) continue; // fold + drop: COUNT CAS
    heads[h + 1] = 0;
    if (Atomics.compareExchange(heads, h, MARK, 5) !== MARK) continue; // end of switch: MODE CAS
    Atomics.add(heads, h + 3, 1); // RELEASES
    if (Atomics.load(heads, h + 4) !== 0) released--; // WAITERS (none here)
    released++;
  }
  return released;
}
