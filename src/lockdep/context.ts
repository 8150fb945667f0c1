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
 * (and drops it from the thread's live-entry array); stacks that still mention it skip it and are
 * compacted lazily by current(). When the releasing context's own top is the entry, it pops.
 *
 * Fast path (SPEC §6: steady state within 2x of disabled). An Entry IS the stack node of its own
 * push (`entry === this`, `parent`, `key`, `key2`), so a synchronous acquisition allocates one object
 * and computes its chain key once (the engine looks that key up in the chain cache, then stores it
 * here). Separate Node objects exist only when current() compacts a stack with released entries in it.
 * The current resource is looked up through resource(): executionAsyncId() (a typed-array read) is
 * compared with the id of the last lookup, and executionAsyncResource() is called only when it
 * differs. Sound because async ids are never reused and each id belongs to exactly one resource
 * (id 0, "no context", is never cached); the id read is kept (lastExecId) for the entry's execId.
 *
 * O(1) current() and release (the epoch). `epoch` counts releases that may leave a dead entry inside
 * some stack. A node's `verified` is the epoch at which its whole stack was last seen live, so
 * current() returns a top with verified === epoch without walking (else it walks once: all live ->
 * re-stamp, some dead -> compact). A node is `shared` once it may be reachable from a stack other
 * than the one it was pushed onto: the init hook marks every node it copies to a new resource,
 * hold() marks a carrier and its parent, and popping a shared top marks the new top (reachable
 * through it). Fast pop: releasing entry e when e is itself the releasing resource's top and not
 * shared just sets the top to e.parent and does NOT bump the epoch: no node anywhere leads to e
 * (nothing above it in its own stack, no other stack reaches it), so no verified stack gains a dead
 * entry. Every other release (another context's lock, a shared top, an out-of-order unlock,
 * handoff, abandon of a carrier, reset) bumps the epoch. hold() stamps a new entry verified only if
 * its parent is still r's top and verified in the current epoch (a report listener run by the slow
 * path may have released locks in between). Synchronous LIFO nesting (lockSync/unlock, annotations)
 * never creates a shared node, so its steady state is: no walk on acquire, pop + one array store on
 * release. Carriers are always shared: async releases bump the epoch and the next current() walks
 * (stacks are short).
 *
 * Carriers are found by the init hook in a 64-slot direct-mapped table indexed by asyncId (ids are
 * consecutive, so the few carriers alive at once rarely collide; collisions go to a Map), and the
 * lookup is skipped while no carrier exists: no Map churn per async acquisition.
 *
 * Invariants: every live entry is in the live array exactly once, at live[e.slot]; a node's key equals the chain
 * key of its entries when they are all live; an Entry's parent/key/key2 never change after its push
 * (compaction builds new Nodes instead); verified === epoch implies every entry of the node's stack
 * is live; a node reachable from two resources' stacks is shared (or lies under a shared node that is
 * still on both); carrierCount counts entries with carrier >= 0, each in the slot table or the Map;
 * asyncHeld counts live entries taken with wait:'async', rcuHeld those that opened an RCU section.
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
  /**
   * This node may be reachable from a stack other than the one it was pushed onto (the init hook
   * copied it or a node above it to a new resource, or it is or lies under a carrier). Sticky.
   */
  shared: boolean;
  /** The `epoch` at which every entry of the stack ending here was last seen live (-1: never). */
  verified: number;
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
  /** Index in the thread's live-entry array while live. */
  slot: number;
}

/**
 * A new Entry pushed onto `parent`, whose chain key (parent's key extended by this lock) the engine
 * has already computed. An object literal: one allocation, one stable shape.
 */
export function newEntry(cls: Cls, mode: LockMode, read: 0 | 1 | 2, trylock: boolean, wait: WaitKind, instance: object | undefined, rcu: boolean, parent: Node | null, key: number, key2: number, execId: number): Entry {
  const e: { -readonly [K in keyof Entry]: Entry[K] } = {
    entry: null!,
    parent,
    key,
    key2,
    shared: false,
    verified: -1,
    cls,
    mode,
    read,
    trylock,
    wait,
    instance,
    rcu,
    live: true,
    execId,
    carrier: -1,
    slot: -1,
  };
  e.entry = e;
  return e;
}

const kCtx = Symbol('quiesce.lockdep.held');
export type Res = { [kCtx]?: Node | null };

let hook: AsyncHook | null = null;

/*
 * Carriers by promise asyncId: a direct-mapped table (slot = id & CARRIER_MASK; async ids are
 * consecutive, so the few carriers alive at once rarely collide), colliding ones in a Map.
 * carrierCount = entries with carrier >= 0, so the init hook skips the lookup when there are none.
 */
const CARRIER_MASK = 63;
const carrierSlot: (Entry | null)[] = new Array<Entry | null>(CARRIER_MASK + 1).fill(null);
const carrierMore = new Map<number, Entry>();
let carrierCount = 0;
let lastPromiseId = -1;
let lastPromiseExec = -1;
let pendingExec = -1;
let pendingNode: Entry | null = null;

/*
 * Thread-wide live entries (for held-freed, held-at-exit, reset), in acquisition order: entry e is
 * at live[e.slot]. Releasing the last one shrinks liveLen (and drops the holes under it); releasing
 * another leaves a hole (null), and the array is compacted when holes are more than half of it.
 * LIFO release, the steady state, is two stores.
 */
const live: (Entry | null)[] = new Array<Entry | null>(16).fill(null);
let liveLen = 0;
let liveHoles = 0;
export let asyncHeld = 0;
/** Live entries that opened an RCU read-side section (waitContext 'rcu') on this thread. */
export let rcuHeld = 0;

/** Bumped by every release that may leave a dead entry in some stack (all but the fast pop). */
let epoch = 0;

let cachedId = -1;
let cachedRes: Res = {};
/** executionAsyncId() as read by the last resource() call (the engine stamps entries with it). */
export let lastExecId = 0;

/** The current async resource (the context whose stack is `resource()[kCtx]`). */
export function resource(): Res {
  const id = executionAsyncId();
  lastExecId = id;
  if (id !== cachedId) {
    cachedRes = executionAsyncResource() as Res;
    cachedId = id === 0 ? -1 : id;
  }
  return cachedRes;
}

function setCarrier(id: number, e: Entry): void {
  e.carrier = id;
  carrierCount++;
  const i = id & CARRIER_MASK;
  if (carrierSlot[i] === null) carrierSlot[i] = e;
  else carrierMore.set(id, e);
}

function carrierOf(id: number): Entry | undefined {
  const s = carrierSlot[id & CARRIER_MASK]!;
  if (s !== null && s.carrier === id) return s;
  return carrierMore.size === 0 ? undefined : carrierMore.get(id);
}

function dropCarrier(e: Entry): void {
  const i = e.carrier & CARRIER_MASK;
  if (carrierSlot[i] === e) carrierSlot[i] = null;
  else carrierMore.delete(e.carrier);
  e.carrier = -1;
  carrierCount--;
}

function clearCarriers(): void {
  for (let i = 0; i < liveLen; i++) {
    const e = live[i]!;
    if (e !== null) e.carrier = -1;
  }
  carrierSlot.fill(null);
  carrierMore.clear();
  carrierCount = 0;
}

function init(asyncId: number, type: string, triggerAsyncId: number, res: object): void {
  let node: Node | null | undefined;
  if (type === 'PROMISE') {
    const exec = executionAsyncId();
    if (pendingNode !== null && pendingExec === exec) {
      setCarrier(asyncId, pendingNode);
      pendingNode = null;
    }
    lastPromiseId = asyncId;
    lastPromiseExec = exec;
  }
  if (carrierCount !== 0) node = carrierOf(triggerAsyncId);
  if (node === undefined) node = resource()[kCtx];
  if (node != null) {
    node.shared = true;
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
  clearCarriers();
  pendingNode = null;
  cachedRes = {};
  cachedId = -1;
}

/**
 * Resource r's stack, with released entries dropped (compacts it if needed). O(1) when the top
 * was verified in the current epoch; otherwise one walk, which re-verifies it.
 */
export function current(r: Res = resource()): Node | null {
  const top = r[kCtx];
  if (top == null) return null;
  if (top.verified === epoch) return top;
  for (let n: Node | null = top; n !== null; n = n.parent) {
    if (!n.entry.live) {
      const fresh = rebuild(top);
      r[kCtx] = fresh;
      return fresh;
    }
  }
  top.verified = epoch;
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
        ? { parent: null, entry: e, key: chainExtend(CHAIN_ROOT, e.cls.id, e.read, e.trylock), key2: chainExtend2(CHAIN_ROOT2, e.cls.id, e.read, e.trylock), shared: false, verified: epoch }
        : { parent: node, entry: e, key: chainExtend(node.key, e.cls.id, e.read, e.trylock), key2: chainExtend2(node.key2, e.cls.id, e.read, e.trylock), shared: false, verified: epoch };
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
 * Make `entry` (already pushed onto its parent: parent/key set by the engine, which got the parent
 * from current(r)) held. attach 'current': resource r's stack (synchronous acquisition); 'carrier':
 * whoever awaits the promise the acquiring async function returns.
 */
export function hold(r: Res, entry: Entry, attach: 'current' | 'carrier'): void {
  entry.slot = liveLen;
  live[liveLen++] = entry;
  if (entry.wait === 'async') asyncHeld++;
  if (entry.rcu) rcuHeld++;
  // The new stack is all-live now if the parent was verified in this epoch and is still r's top
  // (a report listener run by the engine's slow path may have released locks since current()).
  const parent = entry.parent;
  const top = r[kCtx];
  if ((top === undefined ? null : top) === parent && (parent === null || parent.verified === epoch)) entry.verified = epoch;
  if (attach === 'carrier' && hook !== null) {
    // Reachable from every resource the carrier is copied to, and so is everything under it.
    entry.shared = true;
    if (parent !== null) parent.shared = true;
    const exec = executionAsyncId();
    if (lastPromiseExec === exec && lastPromiseId >= 0) {
      setCarrier(lastPromiseId, entry);
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
  dropLive(entry.slot);
  if (entry.wait === 'async') asyncHeld--;
  if (entry.rcu) rcuHeld--;
  if (entry.carrier >= 0) dropCarrier(entry);
  if (pendingNode === entry) pendingNode = null;
  const top = r[kCtx];
  if (top === entry && !entry.shared) {
    // Fast pop: the entry is r's top and in no other stack, so no stack is left holding it dead.
    r[kCtx] = entry.parent;
    return true;
  }
  epoch++;
  if (top != null && top.entry === entry) {
    let p = top.parent;
    while (p !== null && !p.entry.live) p = p.parent;
    if (p !== null && top.shared) p.shared = true; // reachable elsewhere through top
    r[kCtx] = p;
  }
  return true;
}

function dropLive(i: number): void {
  live[i] = null;
  if (i === liveLen - 1) {
    liveLen = i;
    while (liveLen > 0 && live[liveLen - 1] === null) {
      liveLen--;
      liveHoles--;
    }
  } else if (++liveHoles > 32 && 2 * liveHoles > liveLen) {
    let j = 0;
    for (let k = 0; k < liveLen; k++) {
      const e = live[k]!;
      if (e === null) continue;
      e.slot = j;
      live[j++] = e;
    }
    for (let k = j; k < liveLen; k++) live[k] = null;
    liveLen = j;
    liveHoles = 0;
  }
}

/** Live entries of this thread, newest first. */
export function liveEntries(): Entry[] {
  const out: Entry[] = [];
  for (let i = liveLen - 1; i >= 0; i--) {
    const e = live[i]!;
    if (e !== null) out.push(e);
  }
  return out;
}

/** Forget every held lock of this thread (lockdep.reset()). */
export function clearAll(): void {
  for (const e of liveEntries()) unhold(e);
  epoch++;
  resource()[kCtx] = null;
  clearCarriers();
  pendingNode = null;
  asyncHeld = 0;
  rcuHeld = 0;
}

export function currentExecId(): number {
  return executionAsyncId();
}
