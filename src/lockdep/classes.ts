/*
 * Lock classes: interned by name, one object per name per thread (every worker has its own module
 * instance; threads agree on classes by NAME, which is what crosses the BroadcastChannel).
 *
 * A class is a graph node. It owns its out-edges (`after`, the kernel's locks_after) and in-edges
 * (`before`, locks_before) so the breadth-first searches in graph.ts walk plain Maps, and its usage
 * bits for the JS "interrupt" rules (usage.ts).
 *
 * Invariants:
 *  - intern(name) always returns the same object for the same name; ids are small, dense, never
 *    reused (they feed the chain-key hash, chains.ts).
 *  - reset() forgets edges, usage and the chain memo but keeps the objects: primitives hold
 *    references to them.
 */
import type { LockClass } from './hooks.js';
import type { Edge } from './graph.js';
import type { ChainMemo } from './chains.js';

export interface Cls extends LockClass, ChainMemo {
  readonly name: string;
  readonly id: number;
  /** USAGE_* bits (usage.ts). */
  usage: number;
  /** Stack (or site) where each usage bit was first seen, for reports. */
  usageSite: string[];
  /** Out-edges: this -> to. */
  readonly after: Map<Cls, Edge>;
  /** In-edges: from -> this. */
  readonly before: Map<Cls, Edge>;
}

const byName = new Map<string, Cls>();

export function intern(name: string): Cls {
  let c = byName.get(name);
  if (c === undefined) {
    c = { name, id: byName.size + 1, usage: 0, usageSite: ['', '', ''], after: new Map(), before: new Map(), memoFrom: -1, memoFrom2: -1, memoRT: -1, memoKey: 0, memoKey2: 0 };
    byName.set(name, c);
  }
  return c;
}

export function lookup(name: string): Cls | undefined {
  return byName.get(name);
}

export function allClasses(): Iterable<Cls> {
  return byName.values();
}

export function resetClasses(): void {
  for (const c of byName.values()) {
    c.usage = 0;
    c.usageSite = ['', '', ''];
    c.after.clear();
    c.before.clear();
    c.memoFrom = -1; // the chain cache is reset with the classes: forget the memo too
  }
}
