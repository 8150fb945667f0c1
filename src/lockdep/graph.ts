/*
 * The dependency graph and its strong-path search (kernel/locking/lockdep.c: __bfs, check_noncircular).
 *
 * An edge A->B means "B was acquired while A was held". Its `dep` is a bit set of the ways it was
 * seen, named <how A was held><how B was taken>:
 *   SR: A shared (read or recursive-read), B recursive-read      ER: A exclusive, B recursive-read
 *   SN: A shared, B non-recursive (write or read)                EN: A exclusive, B non-recursive
 * A path is a deadlock only if it is STRONG: no -(?R)-> edge is immediately followed by an -(S?)->
 * edge (a recursive reader never waits for a reader, so "R then S" never blocks).
 *
 * Search = breadth-first from the new lock, so the reported cycle is the shortest. As in __bfs, each
 * queued node carries `onlyXR` = "every way we could have arrived here is -(?R)->"; edges out of such
 * a node lose their S? bits, and an edge with no bits left is not followed. Visited state is kept per
 * (class, onlyXR) instead of per class: arriving with onlyXR=false dominates arriving with true, so a
 * class is expanded at most twice, and a strong path is never missed because a weaker one was seen
 * first (the kernel marks per class; this is a strict refinement).
 *
 * Invariants: edges are only ever added (or gain dep bits) until reset(); every edge is in both
 * from.after and to.before; `local` says this thread observed it (vs merged from another thread).
 */
import type { Cls } from './classes.js';
import { allClasses } from './classes.js';

export const DEP_SR = 1;
export const DEP_ER = 2;
export const DEP_SN = 4;
export const DEP_EN = 8;
const DEP_S_ANY = DEP_SR | DEP_SN;
const DEP_N_ANY = DEP_SN | DEP_EN;

export interface Edge {
  readonly from: Cls;
  readonly to: Cls;
  dep: number;
  /** Stack (user frames) where the edge was first seen, or where it came from. */
  stack: string;
  /** Thread that first recorded it ("main", "worker 3"). */
  thread: string;
  /** True if this thread recorded it (not only merged from another thread). */
  local: boolean;
  /** How `to` was taken when the edge was first recorded (0 write, 1 read, 2 recursive-read): report text only. */
  readonly toRead: number;
}

/** read: 0 = write (E), 1 = read (r), 2 = recursive-read (R). */
export function depBit(prevRead: number, nextRead: number): number {
  const exclusive = prevRead === 0;
  const recursive = nextRead === 2;
  return recursive ? (exclusive ? DEP_ER : DEP_SR) : exclusive ? DEP_EN : DEP_SN;
}

export function depNames(dep: number): ('SR' | 'ER' | 'SN' | 'EN')[] {
  const out: ('SR' | 'ER' | 'SN' | 'EN')[] = [];
  if (dep & DEP_ER) out.push('ER');
  if (dep & DEP_EN) out.push('EN');
  if (dep & DEP_SR) out.push('SR');
  if (dep & DEP_SN) out.push('SN');
  return out;
}

export function depFromName(n: string): number {
  return n === 'SR' ? DEP_SR : n === 'ER' ? DEP_ER : n === 'SN' ? DEP_SN : n === 'EN' ? DEP_EN : 0;
}

/** Add (or widen) from->to. Returns the edge and whether it (or any of its dep bits) is new. */
export function addEdge(from: Cls, to: Cls, dep: number, stack: string, thread: string, local: boolean, toRead: number): { edge: Edge; changed: boolean } {
  let e = from.after.get(to);
  if (e === undefined) {
    e = { from, to, dep, stack, thread, local, toRead };
    from.after.set(to, e);
    to.before.set(from, e);
    return { edge: e, changed: true };
  }
  if (local) e.local = true;
  if ((e.dep | dep) === e.dep) return { edge: e, changed: false };
  e.dep |= dep;
  return { edge: e, changed: true };
}

interface QItem {
  cls: Cls;
  onlyXR: boolean;
  parent: QItem | null;
  via: Edge | null;
}

/**
 * Shortest strong path from `src` to `target`.
 * srcOnlyXR: the (hypothetical) edge INTO src is -(?R)-> (src is taken as recursive-read).
 * targetExclusive: the (hypothetical) closing edge OUT of target is -(E?)-> (target held as writer);
 * otherwise the path's last edge must be -(?N)-> (kernel's hlock_conflict).
 * Returns the edges src->...->target, [] if src === target matches at the root, null if none.
 */
export function strongPath(src: Cls, srcOnlyXR: boolean, target: Cls, targetExclusive: boolean): Edge[] | null {
  const root: QItem = { cls: src, onlyXR: srcOnlyXR, parent: null, via: null };
  if (src === target && (targetExclusive || !srcOnlyXR)) return [];
  // visited bits: 1 = expanded with onlyXR=false, 2 = expanded with onlyXR=true
  const visited = new Map<Cls, number>();
  const queue: QItem[] = [root];
  for (let qi = 0; qi < queue.length; qi++) {
    const cur = queue[qi]!;
    const seen = visited.get(cur.cls) ?? 0;
    if (seen & 1) continue;
    if (cur.onlyXR && seen & 2) continue;
    visited.set(cur.cls, seen | (cur.onlyXR ? 2 : 1));
    for (const e of cur.cls.after.values()) {
      let dep = e.dep;
      if (cur.onlyXR) dep &= ~DEP_S_ANY; // -(?R)-> then -(S?)-> is not strong
      if (dep === 0) continue;
      const onlyXR = (dep & DEP_N_ANY) === 0;
      const item: QItem = { cls: e.to, onlyXR, parent: cur, via: e };
      if (e.to === target && (targetExclusive || !onlyXR)) {
        const path: Edge[] = [];
        for (let it: QItem | null = item; it && it.via; it = it.parent) path.push(it.via);
        return path.reverse();
      }
      queue.push(item);
    }
  }
  return null;
}

/** Breadth-first search along `after` (forward) or `before` (backward) for a class matching pred. */
export function findReachable(start: Cls, forward: boolean, pred: (c: Cls) => boolean): Edge[] | null {
  if (pred(start)) return [];
  const parent = new Map<Cls, Edge | null>([[start, null]]);
  const queue: Cls[] = [start];
  for (let qi = 0; qi < queue.length; qi++) {
    const c = queue[qi]!;
    for (const e of (forward ? c.after : c.before).values()) {
      const n = forward ? e.to : e.from;
      if (parent.has(n)) continue;
      parent.set(n, e);
      if (pred(n)) {
        const path: Edge[] = [];
        for (let x: Cls = n; ; ) {
          const via = parent.get(x);
          if (!via) break;
          path.push(via);
          x = forward ? via.from : via.to;
        }
        return forward ? path.reverse() : path;
      }
      queue.push(n);
    }
  }
  return null;
}

export function allEdges(): Edge[] {
  const out: Edge[] = [];
  for (const c of allClasses()) for (const e of c.after.values()) out.push(e);
  return out;
}

export function graphSnapshot(): { classes: string[]; edges: { from: string; to: string; type: 'ER' | 'EN' | 'SR' | 'SN' }[] } {
  const classes: string[] = [];
  for (const c of allClasses()) if (c.after.size || c.before.size) classes.push(c.name);
  const edges: { from: string; to: string; type: 'ER' | 'EN' | 'SR' | 'SN' }[] = [];
  for (const e of allEdges()) for (const t of depNames(e.dep)) edges.push({ from: e.from.name, to: e.to.name, type: t });
  return { classes: classes.sort(), edges };
}

export function toDot(): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = ['digraph lockdep {', '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
  const g = graphSnapshot();
  for (const c of g.classes) lines.push(`  ${q(c)};`);
  for (const e of allEdges()) {
    const types = depNames(e.dep).join(',');
    const style = e.dep & DEP_N_ANY ? 'solid' : 'dashed';
    lines.push(`  ${q(e.from.name)} -> ${q(e.to.name)} [label=${q(types)}, style=${style}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
