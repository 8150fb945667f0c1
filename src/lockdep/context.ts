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
 * Fast path (SPEC §6: steady state within 2x of disabled). An Entry IS the stack node of its own
 * push (`entry === this`, `parent`, `key`, `key2`), so a synchronous acquisition allocates one object
 * and computes its chain key once (the engine looks that key up in the chain cache, then stores it
 * here). Separate Node objects exist only when current() compacts a stack with released entries in it.
 * The current resource is looked up through resource(): executionAsyncId() (a typed-array read) is
 * compared with the id of the last lookup, and executionAsyncResource() is called only when it
 * differs. Sound because async ids are never reused and each id belongs to exactly one resource
 * (id 0, "no context", is never cached). A release of the current context's top pops in O(1).
 *
 * Invariants: every live entry is on the thread list exactly once; a node's key equals the chain
 * key of its entries when they are all live; an Entry's parent/key/key2 never change after its push
 * (compaction builds new Nodes instead); asyncHeld counts live entries taken with wait:'async', rcuHeld those that opened an RCU section.
 */
import { createHook, executionAsyncId, executionAsyncResource, type AsyncHook } from 'node:async_hooks';
import type { HeldLock, LockMode, WaitKind } from './hooks.js';
import type { Cls } from './classes.js';
import { CHAIN_ROOT, CHAIN_ROOT2, chainExtend, chainExtend2 } from './chains.js';

/** One link of a context's held stack: an Entry (its own push) or a plain node (built by compaction). */
export interface Node {
  readonly parent: Node | null;
  readonly entry: Entry;
  /** Chain key of the stack ending here (chains.ts), and its second hash. */
  readonly key: number;
  readonly key2: number;
}

/** One held lock. Also the stack node of its own push (see "Fast path"): `entry` is itself. */
export interface Entry extends HeldLock, Node {
  readonly cls: Cls;
  readonly mode: LockMode;
  /** 0 write, 1 read, 2 recursive-read. */
  readonly read: 0 | 1 | 2;
  readonly trylock: boolean;
  readonly wait: WaitKind;
  readonly instance: object | undefined;
  /** Acquired as an RCU read-side section (waitContext 'rcu'). */
  readonly rcu: boolean;
  /** False once released (or abandoned / handed off). */
  live: boolean;
  /** executionAsyncId() at acquisition (a release elsewhere = held across an event-loop turn); -1: adopted. */
  execId: number;
  /** Carrier promise asyncId, or -1. */
  carrier: number;
  /** Thread list of live entries. */
  prev: Entry | null;
  next: Entry | null;
}

/**
 * A new Entry pushed onto `parent`, whose chain key (parent's key extended by this lock) the engine
 * has already computed. An object literal: one allocation, one stable shape.
 */
export function newEntry(cls: Cls, mode: LockMode, read: 0 | 1 | 2, trylock: boolean, wait: WaitKind, instance: object | undefined, rcu: boolean, parent: Node | null, key: number, key2: number, execId: number): Entry {
  const e: { -readonly [K in keyof Entry]: Entry[K] } = { entry: null!, parent, key, key2, cls, mode, read, trylock, wait, instance, rcu, live: true, execId, carrier: -1, prev: null, next: null };
  e.entry = e;
  return e;
}

const kCtx = Symbol('quiesce.lockdep.held');
export type Res = { [kCtx]?: Node | null };

let hook: AsyncHook | null = null;
const carriers = new Map<number, Node>();
let lastPromiseId = -1;
let lastPromiseExec = -1;
let pendingExec = -1;
let pendingNode: Entry | null = null;

/** Thread-wide list of live entries (for held-freed, held-at-exit, reset). */
let liveHead: Entry | null = null;
export let asyncHeld = 0;
/** Live entries that opened an RCU read-side section (waitContext 'rcu') on this thread. */
export let rcuHeld = 0;

let cachedId = -1;
let cachedRes: Res | null = null;

/** The current async resource (the context whose stack is `resource()[kCtx]`). */
export function resource(): Res {
  const id = executionAsyncId();
  if (id !== cachedId || cachedRes === null) {
    cachedRes = executionAsyncResource() as Res;
    cachedId = id === 0 ? -1 : id;
  }
  return cachedRes;
}

function init(asyncId: number, type: string, triggerAsyncId: number, res: object): void {
  let node: Node | null | undefined;
  if (type === 'PROMISE') {
    const exec = executionAsyncId();
    if (pendingNode !== null && pendingExec === exec) {
      carriers.set(asyncId, pendingNode);
      pendingNode.carrier = asyncId;
      pendingNode = null;
    }
    lastPromiseId = asyncId;
    lastPromiseExec = exec;
  }
  if (carriers.size !== 0) node = carriers.get(triggerAsyncId);
  if (node === undefined) node = resource()[kCtx];
  if (node != null) {
    try {
      (res as Res)[kCtx] = node;
    } catch {
      /* frozen resource: it inherits nothing */
    }
  }
}

/** Install the init hook (only while lockdep is enabled: disabled, no hook at all). */
export function startTracking(): void {
  if (hook) return;
  hook = createHook({ init });
  hook.enable();
}

export function stopTracking(): void {
  hook?.disable();
  hook = null;
  carriers.clear();
  pendingNode = null;
  cachedRes = null;
  cachedId = -1;
}

/** Resource r's stack, with released entries dropped (compacts it in place if needed). */
export function current(r: Res = resource()): Node | null {
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
  for (let i = live.length - 1; i >= 0; i--) {
    const e = live[i]!;
    node =
      node === null
        ? { parent: null, entry: e, key: chainExtend(CHAIN_ROOT, e.cls.id, e.read, e.trylock), key2: chainExtend2(CHAIN_ROOT2, e.cls.id, e.read, e.trylock) }
        : { parent: node, entry: e, key: chainExtend(node.key, e.cls.id, e.read, e.trylock), key2: chainExtend2(node.key2, e.cls.id, e.read, e.trylock) };
  }
  return node;
}

/** The newest live entry of `cls` in resource r's stack (no allocation; O(1) if it is the top). */
export function findHeld(cls: Cls, r: Res): Entry | null {
  for (let n = r[kCtx] ?? null; n !== null; n = n.parent) if (n.entry.live && n.entry.cls === cls) return n.entry;
  return null;
}

/** Held entries of the current context, oldest first. */
export function heldList(top: Node | null): Entry[] {
  const out: Entry[] = [];
  for (let n = top; n !== null; n = n.parent) if (n.entry.live) out.push(n.entry);
  return out.reverse();
}

/**
 * Make `entry` (already pushed onto its parent: parent/key set by the engine) held. attach
 * 'current': resource r's stack (synchronous acquisition); 'carrier': whoever awaits the promise
 * the acquiring async function returns.
 */
export function hold(r: Res, entry: Entry, attach: 'current' | 'carrier'): void {
  entry.next = liveHead;
  if (liveHead !== null) liveHead.prev = entry;
  liveHead = entry;
  if (entry.wait === 'async') asyncHeld++;
  if (entry.rcu) rcuHeld++;
  if (attach === 'carrier' && hook !== null) {
    const exec = executionAsyncId();
    if (lastPromiseExec === exec && lastPromiseId >= 0) {
      carriers.set(lastPromiseId, entry);
      entry.carrier = lastPromiseId;
    } else {
      pendingExec = exec; // the acquirer returns a promise it has not created yet
      pendingNode = entry;
    }
    return;
  }
  r[kCtx] = entry;
}

/** Drop a held entry, from any context. Returns false if it was not live. */
export function unhold(entry: Entry, r: Res = resource()): boolean {
  if (!entry.live) return false;
  entry.live = false;
  if (entry.prev !== null) entry.prev.next = entry.next;
  else liveHead = entry.next;
  if (entry.next !== null) entry.next.prev = entry.prev;
  entry.prev = entry.next = null;
  if (entry.wait === 'async') asyncHeld--;
  if (entry.rcu) rcuHeld--;
  if (entry.carrier >= 0) carriers.delete(entry.carrier);
  if (pendingNode === entry) pendingNode = null;
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
  resource()[kCtx] = null;
  carriers.clear();
  pendingNode = null;
  asyncHeld = 0;
  rcuHeld = 0;
}

export function currentExecId(): number {
  return executionAsyncId();
}
