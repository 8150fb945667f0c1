/*
 * Held locks per context: the thread for synchronous code, the async task for `await` code.
 *
 * Representation. A context's held locks are a persistent (immutable) linked stack of Nodes
 * {parent, entry, key}; `key` is the chain key of the stack (chains.ts). The current stack is a
 * property (kCtx) of the current CONTEXT OBJECT:
 *   - inside a promise reaction (an `await` continuation, a .then callback): the promise whose
 *     reaction runs, as V8's promise hooks report it (`before`/`after`; node:v8 promiseHooks);
 *   - otherwise (a timer, I/O or message callback, the main script): the current async resource,
 *     executionAsyncResource(), which Node tracks for those without any hook installed.
 * Every promise derived from another (an await's, a .then's) created while its creator's stack is
 * non-empty gets that stack (V8's `init` hook): those are the promises reactions run on,
 * so a task's continuations and every child it starts (fan-out: Promise.all, async calls) inherit
 * the stack as it was when they were created, and what a child pushes later is its own.
 * A timer or I/O callback starts with an empty stack (no hook sees those resources created).
 *
 * Why V8's promise hooks and not async_hooks (which is what AsyncLocalStorage uses on Node 20): an
 * async_hooks hook makes Node give EVERY promise an async id, a resource wrapper and a JS call per
 * init/before/after; that alone doubles the cost of an `await lock()` loop (bench/lockdep.ts prints
 * it as the reference row). V8's hooks are one JS call per event with the promise itself: about a
 * third of that. The price is the timer/I-O inheritance above: a callback scheduled under a lock is
 * not "inside" it, which is also what the kernel says of a work item queued under a lock.
 *
 * Why not AsyncLocalStorage either (Node 20 experiment, test/lockdep/contexts.test.ts):
 *     async function t() { const g = await m.lock(); await Promise.all([c1(), c2()]); g.unlock(); }
 * m.lock() is an async function that announces the acquisition synchronously, before its first
 * await, i.e. while the CALLER's context is current. enterWith() there would put the lock into the
 * caller's context: in c1's synchronous prefix that is t's, so c2 and t would "hold" c1's lock.
 * What V8 does tell us: the async function's result promise is created (init hook) just before its
 * body runs, and the promise an `await` (or .then) creates on it has that promise as parent. So an
 * acquisition with wait:'async' is attached to a CARRIER: the last parentless promise created in
 * the current turn (lock()'s own result promise); the init hook gives every promise whose parent
 * is a carrier the stack "caller's stack + this lock". The awaiting task holds it; its siblings and
 * its parent do not. Synchronous acquisitions (lockSync, trylock, annotations, adopt) push onto the current
 * context, like enterWith.
 *
 * Turns (stamp()): an entry records the turn it was taken in, to tell a hold released in a later
 * turn (held across an await). A reaction's stamp is a fresh negative number per `before` hook
 * (-2, -3, ..., repeating after 2^30 reactions); outside reactions it is an outer turn number
 * (>= 0, see newTurn()); -1 marks an adopted entry. Outside reactions a turn is one callback of an
 * async resource, and one resource may run MANY (every tick of a setInterval, every message of a
 * MessagePort, a worker's parentPort included, has the same executionAsyncId), so the async id alone
 * does not name a turn: an outer number names an async id until the turn it was first seen in has
 * ended (an id left and re-entered meanwhile, as runInAsyncScope does, keeps its number). A
 * process.nextTick callback (endTurn) tells that end: Node runs the tick queue only with an empty JS
 * stack, after every callback (between timers and between messages too), so when it runs every turn
 * stamped before it is over. One nextTick per turn that uses lockdep outside reactions; nothing on
 * the steady-state path within a turn.
 *
 * Entries are shared objects with a `live` flag: release by a guard from ANY context just clears it
 * (and drops it from the thread's live-entry array); stacks that still mention it skip it and are
 * compacted lazily by current(). When the releasing context's own top is the entry, it pops.
 *
 * Fast path (SPEC §6: steady state within 2x of disabled). An Entry IS the stack node of its own
 * push (`entry === this`, `parent`, `key`, `key2`), so a synchronous acquisition allocates one object
 * and computes its chain key once (the engine looks that key up in the chain cache, then stores it
 * here). A blocking acquisition whose chain the class's memo already vouches for is one call,
 * pushCached(), and a LIFO release of a sync hold is one popOwn() without retire()'s general cases. Separate Node objects exist only when current() compacts a stack with released entries in it.
 * Recycling: a sync entry that its guard releases by the fast pop in the turn it was taken in goes
 * back to a small free list (recycle()), and pushCached() reuses it, so the synchronous steady state
 * allocates nothing. A new young Entry stored into the long-lived live array and resource costs V8
 * a remembered-set insertion each time; an old, reused one does not (measured: ~10% of a 3-deep
 * lockSync nest with lockdep on). Sound because after that pop nothing refers to the entry: no
 * stack leads to it (the fast pop's own condition, below), it is not in the live array, not a
 * carrier, not registered for held-at-exit (sync holds never are), not forgotten (it was live),
 * and its only outside handle is the guard that just released it, which never releases twice
 * (locks/guard.ts). Only engine.ts release(), the guards' path, recycles: a release by class
 * (lockdep.release) or a reset leaves the guard's handle pointing at the entry, so those never do.
 * The context object is found by resource(): inside a reaction it is a module variable set by the
 * `before` hook; outside, executionAsyncId() (a typed-array read) is compared with the id of the
 * last lookup and executionAsyncResource() is called only when it differs. Sound because async ids
 * are never reused and each belongs to exactly one resource (id 0, "no context", is never cached).
 *
 * O(1) current() and release (the epoch). `epoch` counts releases that may leave a dead entry inside
 * some stack. A node's `verified` is the epoch at which its whole stack was last seen live, so
 * current() returns a top with verified === epoch without walking (else it walks once: all live ->
 * re-stamp, some dead -> compact). A node is `shared` once it may be reachable from a stack other
 * than the one it was pushed onto: the init hook marks every node it copies to a new promise,
 * hold() marks a carrier and its parent, and popping a shared top marks the new top (reachable
 * through it). Fast pop: releasing entry e when e is itself the releasing context's top and not
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
 * A carrier promise P stores its entry in P[kCtx] itself, with entry.carrier === P; the init hook
 * recognises a carrier parent by that identity (no table), and skips the test while no carrier is
 * live (carrierCount).
 *
 * Invariants: every live entry is in the live array exactly once, at live[e.slot]; a node's key equals the chain
 * key of its entries when they are all live; an Entry's parent/key/key2 never change while it is
 * live (compaction builds new Nodes instead; a recycled entry is a new push); verified === epoch implies every entry of the node's stack
 * is live; a node reachable from two contexts' stacks is shared (or lies under a shared node that is
 * still on both); carrierCount counts entries whose carrier is non-null (each is live, and its
 * carrier's kCtx is the entry); asyncHeld counts live entries taken with wait:'async', rcuHeld
 * those that opened an RCU section; quietStamp (see heldAcrossTurns); `forgotten` (held at this thread's reset(), not yet released)
 * holds no live entry.
 */
import { executionAsyncId, executionAsyncResource } from 'node:async_hooks';
import { promiseHooks } from 'node:v8';
import type { HeldLock, LockMode, WaitKind } from './hooks.js';
import type { Cls } from './classes.js';
import { CHAIN_ROOT, CHAIN_ROOT2, chainExtend, chainExtend2 } from './chains.js';
import { USAGE_ACROSS, USAGE_SYNC } from './usage.js';

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
  /** stamp() at acquisition (a release in another turn = held across an await); -1: adopted. */
  execId: number;
  /** The carrier promise (wait:'async': whoever awaits it holds this entry), or null. */
  carrier: object | null;
  /** The guard that alone can release this async hold, until engine.ts's sweep registers it. */
  owner: object | null;
  /** The context object whose stack this entry was pushed onto (null: a carrier's). */
  res: Res | null;
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
    carrier: null,
    owner: null,
    res: null,
    slot: -1,
  };
  e.entry = e;
  return e;
}

const kCtx = Symbol('quiesce.lockdep.held');
export type Res = { [kCtx]?: Node | null };

/** Uninstalls the V8 promise hooks; null while lockdep is disabled (then no hook at all). */
let stopHooks: (() => void) | null = null;

/*
 * Carriers: an entry e with e.carrier === P is stored in P[kCtx]. carrierCount = entries with a
 * carrier, so the init hook skips the parent test when there are none. lastPromise is the newest
 * parentless promise (an async function's result is one) created in turn lastPromiseStamp;
 * pendingNode waits for the next promise of pendingStamp.
 */
let carrierCount = 0;
let lastPromise: object | null = null;
let lastPromiseStamp = 0;
let pendingStamp = 0;
let pendingNode: Entry | null = null;

/*
 * Thread-wide live entries (for held-freed, held-at-exit, reset), in acquisition order: entry e is
 * at live[e.slot]. Releasing the last one shrinks liveLen (and drops the holes under it); releasing
 * another leaves a hole (null), and the array is compacted when holes are more than half of it.
 * LIFO release, the steady state, is two stores.
 */
const live: (Entry | null)[] = new Array<Entry | null>(16).fill(null);
/** One past the newest live entry: 0 iff this thread holds nothing (holes at the end are trimmed). */
export let liveLen = 0;
let liveHoles = 0;
export let asyncHeld = 0;
/** Live entries that opened an RCU read-side section (waitContext 'rcu') on this thread. */
export let rcuHeld = 0;

/** Bumped by every release that may leave a dead entry in some stack (all but the fast pop). */
let epoch = 0;

let cachedId = -1;
let cachedRes: Res = {};
/*
 * The outer turn (header, "Turns"): outerStamp names it while the async id is outerId and turnLive
 * (an endTurn tick queued in it has not run yet). endTurn also sets outerId to -1, which no async
 * id is, so the hot paths (resource(), stamp()) test the one word.
 */
let outerId = -1;
let outerStamp = 0;
let outerSeq = 0;
let turnLive = false;
/**
 * Async id -> its outer stamp, until endTurn: code that enters another id and comes back in one
 * synchronous stretch (AsyncResource.runInAsyncScope) is back in the turn it left.
 */
const turnIds = new Map<number, number>();

function endTurn(): void {
  turnLive = false;
  outerId = -1;
  turnIds.clear();
}

/** The outer turn for async id `id` (the id changed, or the last turn has ended). */
function newTurn(id: number): void {
  outerId = id;
  let s = turnIds.get(id);
  if (s === undefined) {
    s = outerSeq = (outerSeq + 1) & 0x3fffffff;
    turnIds.set(id, s);
  }
  outerStamp = s;
  if (!turnLive) {
    // One pending endTurn suffices while the id changes: every turn stamped before it runs is over.
    turnLive = true;
    process.nextTick(endTurn);
  }
}
/** The promise whose reaction is running (V8 `before` .. `after`), or null. */
let curP: Res | null = null;
/** stamp() while curP is set: a fresh negative number per reaction. */
let curStamp = -1;
/** stamp() as read by the last resource() call (the engine stamps entries with it). */
export let lastExecId = 0;

/** The current context object (the one whose stack is `resource()[kCtx]`). Sets lastExecId. */
export function resource(): Res {
  if (curP !== null) {
    lastExecId = curStamp;
    return curP;
  }
  const id = executionAsyncId();
  lastExecId = outerTurn(id);
  if (id !== cachedId) {
    cachedRes = executionAsyncResource() as Res;
    cachedId = id === 0 ? -1 : id;
  }
  return cachedRes;
}

/** Entry.execId of an adopted (handed-off) read side: it lives across contexts by design. */
export const ADOPTED = -1;

/** The current turn: equal for two calls iff no await/turn boundary lies between them (header). */
export function stamp(): number {
  return curP !== null ? curStamp : outerTurn(executionAsyncId());
}

/** The outer turn's stamp, for code running under async id `id` (outside reactions). */
function outerTurn(id: number): number {
  if (id !== outerId) newTurn(id);
  return outerStamp;
}

function setCarrier(p: object, e: Entry): void {
  e.carrier = p;
  (p as Res)[kCtx] = e;
  carrierCount++;
}

function dropCarrier(e: Entry): void {
  e.carrier = null;
  carrierCount--;
}

/** An old carrier: promises derived from it from now on inherit their creator's stack (engine.ts sweep). */
export function retireCarrier(e: Entry): void {
  if (e.carrier !== null) dropCarrier(e);
}

function clearCarriers(): void {
  for (let i = 0; i < liveLen; i++) {
    const e = live[i]!;
    if (e !== null) e.carrier = null;
  }
  carrierCount = 0;
}

function init(p: Promise<unknown>, parent: Promise<unknown> | undefined): void {
  if (parent === undefined || pendingNode !== null) {
    const s = stamp();
    if (pendingNode !== null && pendingStamp === s) {
      setCarrier(p, pendingNode); // the acquirer's own result promise: it carries the entry
      pendingNode = null;
      return;
    }
    // Only a promise made FROM another (an await's throwaway, .then's result) ever has reactions
    // run on it, so only such a promise can become curP: a parentless one (new Promise, an async
    // function's result) needs no stack, which saves a property (and its backing store) per
    // promise. It may be an async acquirer's result promise: the carrier candidate.
    if (parent === undefined) {
      lastPromise = p;
      lastPromiseStamp = s;
      return;
    }
  }
  let node: Node | null | undefined;
  if (carrierCount !== 0) {
    const c = (parent as Res)[kCtx];
    if (c != null && (c as Entry).carrier === parent) node = c; // awaiting a carrier: its holder
  }
  if (node === undefined) node = resource()[kCtx];
  if (node != null) {
    if (!node.shared) node.shared = true;
    (p as Res)[kCtx] = node;
  }
}

let reactions = 0;

function before(p: Promise<unknown>): void {
  curP = p as Res;
  reactions = (reactions + 1) & 0x3fffffff; // a small integer forever (stamps repeat after 2^30 reactions)
  curStamp = -2 - reactions;
}

function after(): void {
  curP = null;
}

/** Install the promise hooks (only while lockdep is enabled: disabled, no hook at all). */
export function startTracking(): void {
  if (stopHooks) return;
  generalizeContextMaps();
  stopHooks = promiseHooks.createHook({ init, before, after }) as () => void;
}

/**
 * The kCtx property holds, in turn, an Entry, a compacted Node (rebuild()) or null. V8 tracks a
 * field's type per map (the map promises and plain objects share once they have the property)
 * and generalizes it on the first store of another kind; every generalization invalidates the
 * store sites that had cached the old field type, and after a few of those the sites in
 * pushCached()/popOwn() go megamorphic for good: a stub-cache probe on every push and pop
 * (measured: ~4% of the profile of a 3-deep lockSync nest run in promise reactions with lockdep
 * on, the shape of test code under QUIESCE_LOCKDEP=1). Storing each kind once on a throwaway promise and a
 * throwaway object, before any context gets the property, makes the field generic from the start.
 */
function generalizeContextMaps(): void {
  const kinds: (Node | null)[] = [
    newEntry(null!, 'write', 0, false, 'sync', undefined, false, null, CHAIN_ROOT, CHAIN_ROOT2, ADOPTED),
    { parent: null, entry: null!, key: CHAIN_ROOT, key2: CHAIN_ROOT2, shared: false, verified: -1 }, // rebuild()'s shape
    null,
  ];
  for (const o of [Promise.resolve() as Res, {} as Res]) for (const v of kinds) o[kCtx] = v;
}

export function stopTracking(): void {
  stopHooks?.();
  stopHooks = null;
  curP = null;
  clearCarriers();
  pendingNode = null;
  lastPromise = null;
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
  if (attach === 'carrier' && stopHooks !== null) {
    // Reachable from every promise the carrier's stack is copied to, and so is everything under it.
    entry.shared = true;
    if (parent !== null) parent.shared = true;
    const s = stamp();
    if (lastPromise !== null && lastPromiseStamp === s) {
      setCarrier(lastPromise, entry);
    } else {
      pendingStamp = s; // the acquirer returns a promise it has not created yet
      pendingNode = entry;
    }
    return;
  }
  entry.res = r;
  r[kCtx] = entry;
}

/**
 * The wait-context check's gate (every blocking acquisition and every ld.waitFor pays it): true if
 * a wait of kind `wait` in turn `stamp` cannot be invalid. No RCU section is open, and for a sync
 * wait no hold crosses a turn: no async hold, and nothing live or a scan already found nothing
 * in this turn (quietStamp). Integer tests only; the engine's mightWait scans only when it is false.
 */
export function waitContextClean(wait: WaitKind, stamp: number): boolean {
  return rcuHeld === 0 && (wait !== 'sync' || (asyncHeld === 0 && (liveLen === 0 || stamp === quietStamp)));
}

/**
 * The steady-state acquisition (see "Fast path"): engine.ts doAcquire's memo hit, fused with
 * resource(), the engine's wait-context gate and hold() into one small function, because that is
 * what V8 then compiles into the caller without the general path's bookkeeping (measured: ~15% of
 * lockdep's cost on a 3-deep lockSync nest). For a blocking, non-RCU acquisition (`wait` 'sync' or
 * 'async', no trylock) it pushes a new Entry and returns it only if nothing needs looking at:
 *  - the wait context is clean (waitContextClean above);
 *  - r's top was verified in this epoch (current() would not walk);
 *  - the class's chain memo says "pushed onto exactly this chain, with this read mode" (chains.ts:
 *    a memo hit is a chain-cache hit, so the chain was validated), and the class already has the
 *    usage bit this wait gives it (usage.ts).
 * Otherwise it returns null having changed nothing but lastExecId, and the engine takes the
 * general path, which decides the same questions the long way.
 */
export function pushCached(cls: Cls, mode: LockMode, wait: 'sync' | 'async', instance: object | undefined): Entry | null {
  let r: Res;
  let s: number;
  if (curP !== null) {
    r = curP;
    s = curStamp;
  } else {
    r = resource();
    s = lastExecId;
  }
  lastExecId = s;
  if (!waitContextClean(wait, s)) return null;
  const t = r[kCtx];
  const top = t == null ? null : t;
  const read = mode === 'write' ? 0 : mode === 'read' ? 1 : 2;
  if (cls.memoRT !== read << 1) return null;
  if (top === null) {
    if (cls.memoFrom !== CHAIN_ROOT || cls.memoFrom2 !== CHAIN_ROOT2) return null;
  } else if (top.verified !== epoch || cls.memoFrom !== top.key || cls.memoFrom2 !== top.key2) return null;
  const bit = wait === 'sync' ? USAGE_SYNC : USAGE_ACROSS;
  if ((cls.usage & bit) === 0) return null;
  if (wait === 'async') {
    const e = newEntry(cls, mode, read, false, wait, instance, false, top, cls.memoKey, cls.memoKey2, s);
    hold(r, e, 'carrier');
    return e;
  }
  // hold(r, e, 'current') for a sync push onto a top verified just above (nothing ran since)
  const e = newSyncEntry(cls, mode, read, instance, top, cls.memoKey, cls.memoKey2, s);
  e.slot = liveLen;
  live[liveLen++] = e;
  e.verified = epoch;
  e.res = r;
  r[kCtx] = e;
  return e;
}

/*
 * The free list of recycled sync entries (header, "Recycling"). Bounded: a nest deeper than
 * POOL_MAX allocates the rest, as before. Entries in it are not live and keep no reference to a
 * resource, an instance or a stack (so they retain nothing).
 */
const pool: Entry[] = [];
const POOL_MAX = 16;

/** `e`, popped by popOwn() in its own turn through its guard (engine.ts release), may be reused. */
export function recycle(e: Entry): void {
  if (pool.length === POOL_MAX) return;
  const m = e as { -readonly [K in keyof Entry]: Entry[K] };
  m.parent = null;
  m.instance = undefined;
  m.res = null;
  pool.push(e);
}

/** newEntry() for a sync, blocking, non-RCU push, from the free list when it has one. */
function newSyncEntry(cls: Cls, mode: LockMode, read: 0 | 1 | 2, instance: object | undefined, parent: Node | null, key: number, key2: number, execId: number): Entry {
  const e = pool.pop();
  if (e === undefined) return newEntry(cls, mode, read, false, 'sync', instance, false, parent, key, key2, execId);
  // Every field newEntry() sets (wait, rcu, carrier and owner are already 'sync', false, null and
  // null: popOwn's fast pop only takes such entries).
  const m = e as { -readonly [K in keyof Entry]: Entry[K] };
  m.parent = parent;
  m.key = key;
  m.key2 = key2;
  m.shared = false;
  m.verified = -1;
  m.cls = cls;
  m.mode = mode;
  m.read = read;
  m.trylock = false;
  m.instance = instance;
  m.live = true;
  m.execId = execId;
  m.slot = -1;
  return e;
}

/**
 * The release fast path: `e` is still the top of the stack it was pushed onto and in no other
 * stack (not shared), so popping it there leaves no stack holding it dead, whichever context
 * releases it: no epoch bump, no context lookup. Returns POP_NONE (nothing done) if not; else
 * POP_SAME_TURN if it was a sync hold released in the turn it was taken in (it crossed no turn:
 * the engine's checkAcross has nothing to look at), or POP_DONE.
 * The LIFO steady state of synchronous nesting is retire() without its general cases: a sync hold
 * has no guard registered (engine.ts track: async holds only) and no carrier, and the newest live
 * entry leaves the live array by shrinking it.
 */
export const POP_NONE = 0;
export const POP_DONE = 1;
export const POP_SAME_TURN = 2;
export function popOwn(e: Entry): 0 | 1 | 2 {
  const r = e.res;
  if (r === null || e.shared || !e.live || r[kCtx] !== e) return POP_NONE;
  r[kCtx] = e.parent;
  if (e.wait !== 'sync' || e.rcu || e.slot !== liveLen - 1) {
    retire(e);
    return POP_DONE;
  }
  e.live = false;
  live[--liveLen] = null;
  while (liveLen > 0 && live[liveLen - 1] === null) {
    liveLen--;
    liveHoles--;
  }
  return e.execId === stamp() ? POP_SAME_TURN : POP_DONE;
}

/** The bookkeeping of every release: not live, out of the live array, counters, guard, carrier. */
function retire(e: Entry): void {
  e.live = false;
  dropLive(e.slot);
  if (e.wait === 'async') asyncHeld--;
  if (e.rcu) rcuHeld--;
  e.owner = null;
  retireCarrier(e);
  if (pendingNode === e) pendingNode = null;
}

/**
 * `e` stops being held by the current context r, staying live (ld.leave: Revocable.withAccess,
 * Srcu.read). They take their hold in the synchronous prologue of an async function, which runs
 * on the CALLER's context: every promise created meanwhile (the callback's task; the function's
 * own continuation only if its await is set up before leave(), as Srcu.read does) copied the
 * stack with e in it and keeps holding it, but the caller, once the
 * function returns its promise, does not. Only when e is r's top (else nothing changes: a hold
 * pushed above it by the callback's synchronous part is still on r; the top may be a compacted
 * copy of e's node, see rebuild()). No entry dies, so no stack
 * gains a dead one: no epoch bump. e stays where it is in every other stack, so it and its parent
 * are reachable from another stack: both shared, as when a shared top is popped.
 */
export function leave(e: Entry): void {
  const r = resource();
  const top = r[kCtx];
  // The top is e itself, or a node current() built for it when it compacted r's stack (a lock
  // under e released by fn's synchronous part, then a lock taken): compare entries, not nodes.
  if (!e.live || top == null || top.entry !== e) return;
  top.shared = true;
  if (top.parent !== null) top.parent.shared = true;
  r[kCtx] = top.parent;
}

/** Drop a held entry, from any context. Returns false if it was not live. */
export function unhold(entry: Entry, r: Res = resource()): boolean {
  // Fast pop. (An entry that is r's top and not shared was pushed onto r: r is entry.res.)
  if (popOwn(entry) !== POP_NONE) return true;
  if (!entry.live) return false;
  retire(entry);
  const top = r[kCtx];
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

/*
 * Holds that cross a turn, for the wait-context check of a blocking wait (engine.ts acquire /
 * mightWait). quietStamp is a turn in which no live entry was found taken in an earlier turn.
 * Invariant: quietStamp === stamp() implies every live entry, adopted ones aside, was taken in the
 * current turn. New entries are stamped with the current turn and a new turn has a new stamp, so
 * only the scan below sets it; the engine's fast test is then `liveLen !== 0 && lastExecId !==
 * quietStamp`, and it scans at most once per turn while nothing crosses one.
 */
export let quietStamp = ADOPTED; // no turn is stamped -1: scan first

/**
 * Live entries held across an event-loop turn, newest first: every wait:'async' hold (its task
 * awaits), and every hold taken in an earlier turn than this one, except adopted read sides (they
 * live across contexts by design).
 */
export function heldAcrossTurns(): Entry[] {
  const s = stamp();
  const out: Entry[] = [];
  let earlier = false;
  for (let i = liveLen - 1; i >= 0; i--) {
    const e = live[i]!;
    if (e === null) continue;
    const old = e.execId !== s && e.execId !== ADOPTED;
    earlier ||= old;
    if (old || e.wait === 'async') out.push(e);
  }
  if (!earlier) quietStamp = s;
  return out;
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

/*
 * Holds forgotten by this thread's lockdep.reset() (clearAll) and not released since. Their holders
 * still hold the locks and will release them: that release is balanced, so the engine consumes it
 * here silently instead of reporting a 'bad-unlock'. An entry leaves the set when it is released.
 */
const forgotten = new Set<Entry>();

/** Forget every held lock of this thread (this thread's lockdep.reset()); remember them as forgotten. */
export function clearAll(): void {
  for (const e of liveEntries().reverse()) {
    unhold(e);
    forgotten.add(e); // oldest first: findForgotten takes the last match, the newest
  }
  epoch++;
  resource()[kCtx] = null;
  clearCarriers();
  pendingNode = null;
  asyncHeld = 0;
  rcuHeld = 0;
}

/** `e` was forgotten by a reset and is released now: true once (the release is balanced). */
export function releaseForgotten(e: Entry): boolean {
  return forgotten.delete(e);
}

/** The newest forgotten, unreleased hold of `cls` (a release by class after a reset), or null. */
export function findForgotten(cls: Cls): Entry | null {
  let found: Entry | null = null;
  for (const e of forgotten) if (e.cls === cls) found = e;
  return found;
}

/** @internal for tests: the bookkeeping counters, all 0 once nothing is held. */
export function debugCounts(): { live: number; carriers: number; asyncHeld: number; rcuHeld: number } {
  return { live: liveEntries().length, carriers: carrierCount, asyncHeld, rcuHeld };
}

/** @internal for tests: entries waiting in the free list (see "Recycling"). */
export function debugPoolSize(): number {
  return pool.length;
}

/** A number naming the current task in reports (a reaction's stamp made positive, else the async id). */
export function currentExecId(): number {
  return curP !== null ? -curStamp : executionAsyncId();
}
