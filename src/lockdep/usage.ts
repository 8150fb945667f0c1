/*
 * The JS analog of lockdep's irq-safe / irq-unsafe usage rules (design/lockdep.md, "JS contexts
 * instead of interrupts").
 *
 * The kernel's hazard: an interrupt runs on a CPU that already holds a lock the handler needs. JS's
 * hazard: an async task holds a lock across `await`, and later the SAME thread blocks in a *Sync
 * acquisition of it: the holder can never run again to release it. So each class gets two usage bits
 * (per thread: the hazard is a same-thread one):
 *   USAGE_ACROSS  HELD-ACROSS-AWAIT       taken with wait:'async', or released in another event-loop
 *                                          turn than the one that took it
 *   USAGE_SYNC    SYNC-BLOCKING-ACQUIRE   taken (or sync-waited on) with wait:'sync'
 * Rules (mark_lock / check_usage_forwards / check_usage_backwards):
 *   - single lock: a class with both bits                       -> 'inconsistent-usage'
 *   - inversion:   ACROSS-class ->...-> SYNC-class in the graph  -> 'inconsistent-usage'
 * checked when a class first gains a bit, and when a new edge is added (engine.ts).
 */
import type { Cls } from './classes.js';
import type { Edge } from './graph.js';
import { findReachable } from './graph.js';

export const USAGE_ACROSS = 1;
export const USAGE_SYNC = 2;

/** Number of classes with any usage bit: 0 lets the edge path skip the inversion searches. */
export let usageClasses = 0;

export function resetUsageCount(): void {
  usageClasses = 0;
}

export function markUsage(cls: Cls, bit: number, site: string): void {
  if (cls.usage === 0) usageClasses++;
  cls.usage |= bit;
  if (!cls.usageSite[bit]) cls.usageSite[bit] = site;
}

export type UsageProblem =
  | { rule: 'single'; cls: Cls }
  | { rule: 'inversion'; safe: Cls; unsafe: Cls; path: Edge[] };

/** `cls` is about to gain `bit`. */
export function checkNewUsage(cls: Cls, bit: number): UsageProblem | null {
  const other = bit === USAGE_ACROSS ? USAGE_SYNC : USAGE_ACROSS;
  if (cls.usage & other) return { rule: 'single', cls };
  if (usageClasses === 0) return null;
  if (bit === USAGE_ACROSS) {
    const path = findReachable(cls, true, (c) => (c.usage & USAGE_SYNC) !== 0);
    if (path && path.length) return { rule: 'inversion', safe: cls, unsafe: path[path.length - 1]!.to, path };
  } else {
    const path = findReachable(cls, false, (c) => (c.usage & USAGE_ACROSS) !== 0);
    if (path && path.length) return { rule: 'inversion', safe: path[0]!.from, unsafe: cls, path };
  }
  return null;
}

/** A new edge prev -> next (not in the graph yet); `next` may be about to gain `nextBit`. */
export function checkNewEdge(prev: Cls, next: Cls, nextBit: number): UsageProblem | null {
  if (usageClasses === 0 && nextBit === 0) return null;
  const back = findReachable(prev, false, (c) => (c.usage & USAGE_ACROSS) !== 0);
  if (!back) return null;
  const fwd = findReachable(next, true, (c) => (c.usage & USAGE_SYNC) !== 0 || (c === next && nextBit === USAGE_SYNC));
  if (!fwd) return null;
  const safe = back.length ? back[0]!.from : prev;
  const unsafe = fwd.length ? fwd[fwd.length - 1]!.to : next;
  const closing: Edge = { from: prev, to: next, dep: 0, stack: '', thread: '', local: true, toRead: 0 };
  return { rule: 'inversion', safe, unsafe, path: [...back, closing, ...fwd] };
}
