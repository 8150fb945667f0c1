/*
 * Held locks per context: the thread for synchronous code, the async task for `await` code.
 *
 * Representation. A context's held locks are a persistent (immutable) linked stack of Nodes
 * {parent, entry, key}; `key` is the chain key of the stack (chains.ts). The current stack is a
 * property of the current async resource, exactly the mechanism Node 20's AsyncLocalStorage uses
 * (executionAsyncResource() + an init hook that copies the property to every new resource), so a
 * task's continuations and every child it starts (fan-out: Promise.all, setTimeout, ...) inherit the
 * stack as it was when they were created, and what a child pushes later is its own.
 *
 * Why not AsyncLocalStorage itself (Node 20 experiment, test/lockdep/contexts.test.ts):
 *     async function t() { const g = await m.lock(); await Promise.all([c1(), c2()]); g.unlock(); }
 * m.lock() is an async function that announces the acquisition synchronously, before its first
 * await, i.e. while the CALLER's resource is current. enterWith() there would put the lock into the
 * caller's resource: in c1's synchronous prefix that is t's resource, so c2 and t would "hold" c1's
 * lock. What V8 does tell us: the async function's result promise is created (init hook) just before
 * its body runs, and the promise an `await` (or .then) creates on it has that promise as trigger.
 * So an acquisition with wait:'async' is attached to a CARRIER: the last promise created in the
 * current resource (lock()'s own result promise); the init hook gives every resource triggered by a
 * carrier the stack "caller's stack + this lock". The awaiting task holds it; its siblings and its
 * parent do not. ALS cannot express "give resource X a store other than the current one", hence
 * this ~40-line version of it. Synchronous acquisitions (lockSync, trylock, annotations, adopt) push
 * onto the current resource, like enterWith.
 *
 * Entries are shared objects with a `live` flag: release by a guard from ANY context just clears it
 * (and unlinks it from the thread's list of live entries); stacks that still mention it skip it and
 * are compacted lazily by current(). When the releasing context's own top is the entry, it pops.
 *
 * Invariants: every live entry is on the thread list exactly once; a node's key equals the chain
 * key of its entries when they are all live; asyncHeld counts live entries taken with wait:'async'.
 */
import { createHook, executionAsyncId, executionAsyncResource, type AsyncHook } from 'node:async_hooks';
import type { HeldLock, LockMode, WaitKind } from './hooks.js';
import type { Cls } from './classes.js';
import { CHAIN_ROOT, CHAIN_ROOT2, chainExtend, chainExtend2 } from './chains.js';

export interface Entry extends HeldLock {
  readonly cls: Cls;
  readonly mode: LockMode;
  /** 0 write, 1 read, 2 recursive-read. */
  readonly read: 0 | 1 | 2;
  readonly trylock: boolean;
  readonly wait: WaitKind;
  readonly instance: object | undefined;
  /** Acquired as an RCU read-side section (waitContext 'rcu'). */
  readonly rcu: boolean;
  /** A pseudo acquisition of lockdep.sync (only ever used for report text). */
  live: boolean;
  /** executionAsyncId() at acquisition (a release elsewhere = held across an event-loop turn). */
  execId: number;
  /** Carrier promise asyncId, or -1. */
  carrier: number;
  prev: Entry | null;
  next: Entry | null;
}

export interface Node {
  readonly parent: Node | null;
  readonly entry: Entry;
  readonly key: number;
  readonly key2: number;
}

const kCtx = Symbol('quiesce.lockdep.held');
type Res = { [kCtx]?: Node | null };

let hook: AsyncHook | null = null;
const carriers = new Map<number, Node>();
let lastPromiseId = -1;
let lastPromiseExec = -1;
let pending: { exec: number; node: Node } | null = null;

/** Thread-wide list of live entries (for held-freed, held-at-exit, reset). */
let liveHead: Entry | null = null;
export let asyncHeld = 0;

function res(): Res {
  return executionAsyncResource() as Res;
}

export function startTracking(): void {
  if (hook) return;
  hook = createHook({
    init(asyncId, type, triggerAsyncId, resource) {
      let node: Node | null | undefined;
      if (type === 'PROMISE') {
        const exec = executionAsyncId();
        if (pending !== null && pending.exec === exec) {
          carriers.set(asyncId, pending.node);
          pending.node.entry.carrier = asyncId;
          pending = null;
        }
        lastPromiseId = asyncId;
        lastPromiseExec = exec;
      }
      if (carriers.size !== 0) node = carriers.get(triggerAsyncId);
      if (node === undefined) node = (executionAsyncResource() as Res)[kCtx];
      if (node != null) {
        try {
          (resource as Res)[kCtx] = node;
        } catch {
          /* frozen resource: it inherits nothing */
        }
      }
    },
  });
  hook.enable();
}

export function stopTracking(): void {
  hook?.disable();
  hook = null;
  carriers.clear();
  pending = null;
}

/** The current context's stack, with released entries dropped (compacts it in place if needed). */
let lastRes: Res | null = null;

export function current(): Node | null {
  const r = res();
  lastRes = r;
  const top = r[kCtx];
  if (top == null) return null;
  for (let n: Node | null = top; n !== null; n = n.parent) {
    if (!n.entry.live) {
      const fresh = rebuild(top);
      r[kCtx] = fresh;
      return fresh;
    }
  }
  return top;
}

function rebuild(top: Node): Node | null {
  const live: Entry[] = [];
  for (let n: Node | null = top; n !== null; n = n.parent) if (n.entry.live) live.push(n.entry);
  let node: Node | null = null;
  for (let i = live.length - 1; i >= 0; i--) node = push(node, live[i]!);
  return node;
}

export function push(parent: Node | null, entry: Entry): Node {
  const c = entry.cls.id;
  return parent === null
    ? { parent, entry, key: chainExtend(CHAIN_ROOT, c, entry.read, entry.trylock), key2: chainExtend2(CHAIN_ROOT2, c, entry.read, entry.trylock) }
    : { parent, entry, key: chainExtend(parent.key, c, entry.read, entry.trylock), key2: chainExtend2(parent.key2, c, entry.read, entry.trylock) };
}

/** The newest live entry of `cls` in the current context (no allocation). */
export function findHeld(cls: Cls): Entry | null {
  for (let n = (res()[kCtx] ?? null) as Node | null; n !== null; n = n.parent) if (n.entry.live && n.entry.cls === cls) return n.entry;
  return null;
}

/** Held entries of the current context, oldest first. */
export function heldList(top: Node | null): Entry[] {
  const out: Entry[] = [];
  for (let n = top; n !== null; n = n.parent) if (n.entry.live) out.push(n.entry);
  return out.reverse();
}

export function makeEntry(cls: Cls, mode: LockMode, read: 0 | 1 | 2, trylock: boolean, wait: WaitKind, instance: object | undefined, rcu: boolean): Entry {
  return { cls, mode, read, trylock, wait, instance, rcu, live: true, execId: executionAsyncId(), carrier: -1, prev: null, next: null };
}

/**
 * Make `entry` held. attach 'current': the current resource's stack (synchronous acquisition);
 * 'carrier': whoever awaits the promise the acquiring async function returns.
 */
export function hold(top: Node | null, entry: Entry, attach: 'current' | 'carrier'): void {
  const node = push(top, entry);
  entry.next = liveHead;
  if (liveHead) liveHead.prev = entry;
  liveHead = entry;
  if (entry.wait === 'async') asyncHeld++;
  if (attach === 'carrier' && hook !== null) {
    const exec = executionAsyncId();
    if (lastPromiseExec === exec && lastPromiseId >= 0) {
      carriers.set(lastPromiseId, node);
      entry.carrier = lastPromiseId;
    } else {
      pending = { exec, node }; // the acquirer returns a promise it has not created yet
    }
    return;
  }
  (lastRes ?? res())[kCtx] = node; // current() ran in this same synchronous call
}

/** Drop a held entry, from any context. Returns false if it was not live. */
export function unhold(entry: Entry): boolean {
  if (!entry.live) return false;
  entry.live = false;
  if (entry.prev) entry.prev.next = entry.next;
  else liveHead = entry.next;
  if (entry.next) entry.next.prev = entry.prev;
  entry.prev = entry.next = null;
  if (entry.wait === 'async') asyncHeld--;
  if (entry.carrier >= 0) carriers.delete(entry.carrier);
  if (pending !== null && pending.node.entry === entry) pending = null;
  const r = res();
  const top = r[kCtx];
  if (top != null && top.entry === entry) {
    let p = top.parent;
    while (p !== null && !p.entry.live) p = p.parent;
    r[kCtx] = p;
  }
  return true;
}

export function liveEntries(): Entry[] {
  const out: Entry[] = [];
  for (let e = liveHead; e !== null; e = e.next) out.push(e);
  return out;
}

/** Forget every held lock of this thread (lockdep.reset()). */
export function clearAll(): void {
  for (const e of liveEntries()) unhold(e);
  res()[kCtx] = null;
  carriers.clear();
  pending = null;
  asyncHeld = 0;
}

export function currentExecId(): number {
  return executionAsyncId();
}
