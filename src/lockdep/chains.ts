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
 * The key is two independent 30-bit hashes (small integers, so the Map stays on V8's fast path): the
 * first indexes the cache, the second must match too; a false hit needs a 2^-60 collision.
 */

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

const seen = new Map<number, number>();

export function chainSeen(key: number, key2: number): boolean {
  return seen.get(key) === key2;
}

export function chainAdd(key: number, key2: number): void {
  seen.set(key, key2);
}

export function resetChains(): void {
  seen.clear();
}
