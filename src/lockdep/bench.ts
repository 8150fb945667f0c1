/*
 * Micro benchmark: nested acquire/release of 3 classes through the annotation API, lockdep on in
 * steady state (every chain already in the chain-key cache) versus lockdep off, in the same run.
 *
 * Two figures: the bare annotations (off = one branch, so the ratio shows lockdep's absolute cost
 * per operation), and the annotations around a minimal real lock (an uncontended Atomics CAS lock on
 * a SharedArrayBuffer, what a quiesce Mutex fast path costs), which is the SPEC's "within 2x of
 * lockdep disabled" comparison. Best of several rounds, in ns per nested 3-lock round trip.
 */
import { lockdep } from './index.js';
import { ld } from './hooks.js';

const sab = new Int32Array(new SharedArrayBuffer(16));

function spinLock(i: number): void {
  while (Atomics.compareExchange(sab, i, 0, 1) !== 0) {
    /* uncontended: never spins */
  }
}
function spinUnlock(i: number): void {
  Atomics.store(sab, i, 0);
}

function timeIt(iters: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  return Number(process.hrtime.bigint() - t0) / iters;
}

function best(rounds: number, iters: number, fn: () => void): number {
  let b = Infinity;
  for (let r = 0; r < rounds; r++) b = Math.min(b, timeIt(iters, fn));
  return b;
}

export async function benchLockdep(): Promise<{ name: string; figureNs: number; baselineNs: number }[]> {
  const wasOn = lockdep.enabled;
  const [A, B, C] = ['bench.lockdep.A', 'bench.lockdep.B', 'bench.lockdep.C'].map((n) => lockdep.lockClass(n)) as [
    ReturnType<typeof lockdep.lockClass>,
    ReturnType<typeof lockdep.lockClass>,
    ReturnType<typeof lockdep.lockClass>,
  ];
  const bare = () => {
    lockdep.acquire(A);
    lockdep.acquire(B);
    lockdep.acquire(C, { mode: 'read' });
    lockdep.release(C);
    lockdep.release(B);
    lockdep.release(A);
  };
  const withLock = () => {
    lockdep.acquire(A);
    spinLock(0);
    lockdep.acquire(B);
    spinLock(1);
    lockdep.acquire(C, { mode: 'read' });
    spinLock(2);
    spinUnlock(2);
    lockdep.release(C);
    spinUnlock(1);
    lockdep.release(B);
    spinUnlock(0);
    lockdep.release(A);
  };
  const iters = 100_000;
  // off
  if (wasOn) lockdep.disable();
  best(2, iters, bare);
  const offBare = best(5, iters, bare);
  const offLock = best(5, iters, withLock);
  // on, steady state (warm the chain cache first)
  lockdep.enable({ action: 'collect', stacks: false });
  bare();
  withLock();
  best(2, iters, bare);
  const onBare = best(5, iters, bare);
  const onLock = best(5, iters, withLock);
  if (!wasOn) lockdep.disable();
  else lockdep.enable();
  void ld;
  return [
    { name: 'lockdep: nested acquire/release x3, annotations only (on vs off)', figureNs: onBare, baselineNs: offBare },
    { name: 'lockdep: nested 3-lock round trip with an uncontended SAB lock (on vs off)', figureNs: onLock, baselineNs: offLock },
  ];
}
