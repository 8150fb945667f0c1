/*
 * The chain-key cache (kernel: iterate_chain_key / lookup_chain_cache_add).
 *
 * A context's held locks form a sequence of (class, read-mode, trylock) triples; its chain key is a
 * running hash of that sequence, stored with each held-stack node (context.ts) so that extending it
 * by one lock costs one mix. Before validating "held + new", the engine looks the extended key up
 * here: a chain seen before was fully validated then (AA, every edge's cycle search), edges are only
 * ever added, and any later edge that closes a cycle is itself validated when it is added, so a
 * cached chain needs no validation at all. That is what makes the steady state cheap.
 *
 * The key is two independent 30-bit hashes (small integers: pure Math.imul arithmetic, no
 * allocation): the first indexes the cache, the second must match too; a false hit needs a 2^-60
 * collision. The cache is an open-addressing table in one Int32Array (linear probing; slot i holds
 * key|HIT_BIT at 2i and key2 at 2i+1, 0 = empty; doubled when half full), so a steady-state lookup
 * is a few array reads. `chainStats.validations` counts the misses the engine then validates (the
 * slow path): it stays flat while every chain is cached (test/lockdep/chains.test.ts).
 *
 * The memo in front of it (ChainMemo, one per class): the last chain a class was pushed onto
 * that was already cached. Steady-state code takes each class in the same place every time (A
 * then B then C), so "B on top of the chain ending in A" is answered by three compares, without the
 * two hash mixes and the table probe. The memo is written only once its chain is in the cache,
 * so a memo hit is a cache hit; both are forgotten together (lockdep.reset()). A class taken in
 * several places just misses the memo and goes to the table.
 */

/**
 * Per-class memo (stored on the class object, classes.ts). memoFrom/memoFrom2: the key of the chain
 * the class was pushed onto (-1: none); memoRT: (read << 1) | trylock of that push; memoKey/memoKey2:
 * the resulting chain key, which is in the cache.
 */
export interface ChainMemo {
  memoFrom: number;
  memoFrom2: number;
  memoRT: number;
  memoKey: number;
  memoKey2: number;
}

export const CHAIN_ROOT = 0;
export const CHAIN_ROOT2 = 0x5bd1e995 & 0x3fffffff;

/** Extend chain hash `key` (30 bits, a small integer) by one held lock. read: 0 write, 1 read, 2 recursive-read. */
export function chainExtend(key: number, classId: number, read: number, trylock: boolean): number {
  const x = (classId << 3) | (read << 1) | (trylock ? 1 : 0);
  let a = Math.imul(key ^ x, 0x9e3779b1);
  a = Math.imul(a ^ (a >>> 15), 0x85ebca77);
  return (a ^ (a >>> 13)) & 0x3fffffff;
}

/** The second, independent hash (checked on a hit, like the kernel compares the chain on a hash hit). */
export function chainExtend2(key: number, classId: number, read: number, trylock: boolean): number {
  const x = (classId << 3) | (read << 1) | (trylock ? 1 : 0);
  let b = Math.imul(key + 0x632be5ab, 0x27d4eb2f) ^ Math.imul(x, 0xc2b2ae3d);
  b = Math.imul(b ^ (b >>> 16), 0x7feb352d);
  return (b ^ (b >>> 15)) & 0x3fffffff;
}

const HIT_BIT = 0x40000000; // keys are 30 bits: a stored key is never 0
let mask = 1023;
let table = new Int32Array(2 * (mask + 1));
let count = 0;

/** Slow-path counters (reset by lockdep.reset()). */
export const chainStats = { validations: 0 };

export function chainSeen(key: number, key2: number): boolean {
  const k = key | HIT_BIT;
  for (let i = key & mask; ; i = (i + 1) & mask) {
    const t = table[2 * i]!;
    if (t === 0) return false;
    if (t === k && table[2 * i + 1] === key2) return true;
  }
}

export function chainAdd(key: number, key2: number): void {
  if (chainSeen(key, key2)) return;
  if (2 * (count + 1) > mask + 1) grow();
  insert(key | HIT_BIT, key2);
  count++;
}

function insert(k: number, key2: number): void {
  let i = k & mask;
  while (table[2 * i] !== 0) i = (i + 1) & mask;
  table[2 * i] = k;
  table[2 * i + 1] = key2;
}

function grow(): void {
  const old = table;
  mask = 2 * mask + 1;
  table = new Int32Array(2 * (mask + 1));
  for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) insert(old[i]!, old[i + 1]!);
}

export function resetChains(): void {
  mask = 1023;
  table = new Int32Array(2 * (mask + 1));
  count = 0;
  chainStats.validations = 0;
}
