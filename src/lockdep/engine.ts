/*
 * The validator (kernel/locking/lockdep.c: validate_chain, check_deadlock, check_prevs_add,
 * check_prev_add), with the JS context rules and the cross-thread merge.
 *
 * acquire(held H, new lock N):
 *   1. chain key K = key(H) + (N, read, trylock)            (chains.ts)
 *   2. trylock: no validation, no edge to N (it cannot wait, so it cannot deadlock); it is pushed, so
 *      locks taken under it get edges from it.
 *   3. K cached: nothing to validate. This is the steady state: context.ts pushCached() answers it
 *      for a blocking acquisition in one small function (hooks.ts hands out engine.acquire itself,
 *      so the primitive calls straight into it); otherwise doAcquire's memo hit does the same: one
 *      resource lookup (context.ts), N's chain memo (three compares; on a memo miss two 30-bit hash
 *      mixes and one probe of the chain table), one allocation (the Entry, which is its own stack node and stores K so it is never recomputed),
 *      no closures, no stack capture. Everything else (steps 4-6, edges, usage bits, reports) is
 *      slowCheck(), entered only on a miss or when a class gains a usage bit; chainStats.validations
 *      counts the misses. The held stack's top comes from current() without a walk when nothing
 *      was released out of LIFO order since it was verified, and release of the context's own,
 *      unshared top entry is a pop plus one array store (context.ts, "O(1) current() and release").
 *   4. else check_deadlock: N's class already held -> 'recursive', unless N is a recursive read and
 *      the held one is a reader (R after r/R). r after r is a deadlock (a writer waiting in between).
 *   5. else check_prevs_add: from the newest held lock back to and including the first non-trylock,
 *      for each held P: strong path N ->...-> P? (graph.ts) -> 'circular'; else edge P->N (type from
 *      how P is held and how N is taken). Only the nearest non-trylock needs an edge: older locks
 *      are connected to N through it.
 *   6. JS usage bits (usage.ts) for wait:'async' / wait:'sync'.
 * Before step 1, an acquisition that may block checks the wait context (mightWait, the kernel's
 * might_sleep): inside an RCU read section, or a sync wait while this thread holds a lock across an
 * event-loop turn (an async hold, or one taken in an earlier turn) -> 'invalid-wait'. The steady
 * state pays integer tests only (context.ts quietStamp).
 * With action 'throw' every problem is found BEFORE anything is recorded; then the report is
 * recorded and ERR_LOCKDEP thrown, so the primitive acquires nothing. Otherwise problems are reported
 * and the valid part is committed (a cycle-closing edge is never added: the graph stays free of
 * strong cycles, so one bug is reported once, as the kernel does by turning itself off).
 *
 * Reports: deduplicated by key (kind + classes), recorded in reports(), passed to listeners, and
 * broadcast (shared.ts); when action is 'warn', printed to stderr by the thread that found them if it
 * is the first in the process to claim the key (shared.ts claimPrint), so once per process.
 * Remote edges are merged and searched for a cycle they close, and for a HELD-ACROSS-AWAIT ->
 * SYNC-BLOCKING inversion against this thread's usage bits; the thread that finds one reports it
 * (so two threads may find one cycle at once: each records it, only one prints it).
 */
import { getEnvironmentData, setEnvironmentData, threadId } from 'node:worker_threads';
import type { AcquireOptions, HeldLock, HeldLockToken, LockClass, LockMode, ReportKind, WaitKind, LockdepReport } from './hooks.js';
import { QuiesceError } from '../errors.js';
import { intern, resetClasses, type Cls } from './classes.js';
import { addEdge, depBit, strongPath, allEdges, DEP_SR, DEP_ER, DEP_EN, type Edge } from './graph.js';
import { chainExtend, chainExtend2, chainSeen, chainAdd, resetChains, chainStats, CHAIN_ROOT, CHAIN_ROOT2 } from './chains.js';
import * as ctx from './context.js';
import type { Entry, Node } from './context.js';
import * as rep from './report.js';
import { USAGE_ACROSS, USAGE_SYNC, markUsage, checkNewUsage, checkNewEdge, resetUsageCount, type UsageProblem } from './usage.js';
import { openChannel, closeChannel, post, claimPrint, clearClaims, type Msg, type EdgeMsg, type ReportMsg } from './shared.js';
import { setTimeout as later } from 'node:timers'; // not the global: tests' fake timers must not stop the sweep

export type Action = 'throw' | 'warn' | 'collect';

interface Pending {
  kind: ReportKind;
  classes: string[];
  text: string;
  key: string;
}

interface NewEdge {
  prev: Entry;
  dep: number;
}

const state = {
  enabled: false,
  action: 'warn' as Action,
  stacks: true,
  reports: [] as LockdepReport[],
  keys: new Set<string>(),
  listeners: new Set<(r: LockdepReport) => void>(),
  exitHooked: false,
};

let setFlag: (on: boolean) => void = () => {};
const keyOf = new WeakMap<LockdepReport, string>();

function asCls(c: LockClass): Cls {
  return (c as Cls).after !== undefined ? (c as Cls) : intern(c.name);
}

function readOf(mode: LockMode): 0 | 1 | 2 {
  return mode === 'write' ? 0 : mode === 'read' ? 1 : 2;
}

function stack(): string {
  return state.stacks ? rep.userStack() : '';
}

function who(): string {
  return rep.taskName(ctx.currentExecId());
}

// ---------------------------------------------------------------- reports

/** Record a report. local: raised by this thread (print per action, broadcast). Returns false if a duplicate. */
function emit(p: Pending, local: boolean): boolean {
  if (state.keys.has(p.key)) return false;
  state.keys.add(p.key);
  const r: LockdepReport = { kind: p.kind, classes: p.classes, text: p.text };
  keyOf.set(r, p.key);
  state.reports.push(r);
  if (local) {
    if (state.action === 'warn' && claimPrint(p.key)) process.stderr.write(p.text + '\n');
    post({ t: 'report', kind: p.kind, classes: p.classes, text: p.text, key: p.key });
  }
  for (const l of state.listeners) {
    try {
      l(r);
    } catch {
      /* a listener's bug is not ours to propagate */
    }
  }
  return true;
}

function pending(kind: ReportKind, classes: string[], text: string, extra = ''): Pending {
  return { kind, classes, text, key: rep.dedupKey(kind, classes, extra) };
}

function fail(problems: Pending[]): never {
  for (const p of problems) emit(p, true);
  const p = problems[0]!;
  const title = p.text.split('\n')[1] ?? p.kind;
  throw new QuiesceError('ERR_LOCKDEP', `lockdep: ${title.replace(/^WARNING: |^BUG: /, '')}: ${p.classes.join(' -> ')}`, p);
}

/** `by` names who found it (a remote edge's merge says whose edge closed it). */
function usageReport(u: UsageProblem, current: string, by: string = who()): Pending {
  if (u.rule === 'single') {
    const c = u.cls;
    const across = c.usageSite[USAGE_ACROSS] || current;
    const sync = c.usageSite[USAGE_SYNC] || current;
    return pending('inconsistent-usage', [c.name], rep.inconsistentText(by, c, across, sync, current));
  }
  return pending(
    'inconsistent-usage',
    [u.safe.name, u.unsafe.name],
    rep.inversionText(by, u.safe, u.unsafe, u.path, u.safe.usageSite[USAGE_ACROSS] || current, u.unsafe.usageSite[USAGE_SYNC] || current),
  );
}

// ---------------------------------------------------------------- validation

/** check_deadlock + check_prevs_add, read-only. */
function validate(top: Node | null, cls: Cls, read: 0 | 1 | 2, isSync: boolean, usageBit: number, problems: Pending[]): NewEdge[] {
  const edges: NewEdge[] = [];
  if (top === null) return edges;
  const held = ctx.heldList(top);
  for (const p of held) {
    if (p.cls !== cls) continue;
    if (read === 2 && p.read !== 0) continue; // R after r/R of the same class
    const cur = stack();
    problems.push(pending('recursive', [cls.name], rep.recursiveText(who(), { cls, read }, p, cur, held)));
    return edges;
  }
  for (let i = held.length - 1; i >= 0; i--) {
    const p = held[i]!;
    const path = strongPath(cls, read === 2, p.cls, p.read === 0);
    if (path !== null) {
      const cur = stack();
      const info: rep.CircularInfo = { who: who(), next: { cls, read, sync: isSync }, prev: { cls: p.cls, read: p.read }, path, current: cur, held };
      problems.push(pending('circular', rep.cycleClasses(path, cls), rep.circularText(info)));
      return edges;
    }
    const dep = depBit(p.read, read);
    const existing = p.cls.after.get(cls);
    if (existing === undefined || (existing.dep & dep) === 0) {
      edges.push({ prev: p, dep });
      const u = checkNewEdge(p.cls, cls, usageBit);
      if (u) problems.push(usageReport(u, stack()));
    }
    if (!p.trylock) break;
  }
  return edges;
}

function commitEdges(edges: NewEdge[], cls: Cls, read: number): void {
  if (edges.length === 0) return;
  const st = stack();
  for (const ne of edges) {
    const { edge, changed } = addEdge(ne.prev.cls, cls, ne.dep, st, rep.threadName, true, read);
    if (changed) post(edgeMsg(edge));
  }
}

function edgeMsg(e: Edge): EdgeMsg {
  return { t: 'edge', from: e.from.name, to: e.to.name, dep: e.dep, toRead: e.toRead, stack: e.stack, thread: e.thread };
}

/**
 * The slow path of acquire / sync, taken only when the chain `key` is not cached or `cls` is about to
 * gain a usage bit: validates, then records (edges, usage bit, chain). Throws (action 'throw')
 * before recording anything.
 */
function slowCheck(top: Node | null, cls: Cls, read: 0 | 1 | 2, trylock: boolean, usageBit: number, isSync: boolean, key: number, key2: number): void {
  let problems: Pending[] | null = null;
  let edges: NewEdge[] | null = null;
  const validateChain = !trylock && !chainSeen(key, key2);
  if (validateChain) {
    chainStats.validations++;
    problems = [];
    edges = validate(top, cls, read, isSync, usageBit, problems);
  }
  if (usageBit !== 0 && (cls.usage & usageBit) === 0) {
    const u = checkNewUsage(cls, usageBit);
    if (u) (problems ??= []).push(usageReport(u, stack()));
  }
  if (problems !== null && problems.length !== 0 && state.action === 'throw') fail(problems);
  if (edges !== null) commitEdges(edges, cls, read);
  if (usageBit !== 0 && (cls.usage & usageBit) === 0) markUsage(cls, usageBit, stack());
  if (validateChain) chainAdd(key, key2);
  if (problems !== null) for (const p of problems) emit(p, true);
}

/**
 * acquire in resource r's context (the caller's ctx.resource(), which set ctx.lastExecId): chain key of "current stack + cls" (computed once, stored in the new entry), cache
 * lookup, and only on a miss (or a new usage bit) the slow path. Steady state: one resource lookup,
 * the class's chain memo (three compares; else two hash mixes and a table probe), one allocation
 * (the Entry, which is also its stack node).
 */
function doAcquire(r: ctx.Res, cls: Cls, mode: LockMode, trylock: boolean, wait: WaitKind, usageBit: number, attach: 'current' | 'carrier', instance: object | undefined, rcu: boolean): Entry {
  const read = readOf(mode);
  const top = ctx.current(r);
  const from = top === null ? CHAIN_ROOT : top.key;
  const from2 = top === null ? CHAIN_ROOT2 : top.key2;
  const rt = (read << 1) | (trylock ? 1 : 0);
  let key: number;
  let key2: number;
  if (cls.memoFrom === from && cls.memoFrom2 === from2 && cls.memoRT === rt) {
    // memo hit (chains.ts): this chain is cached; only a new usage bit needs the slow path
    key = cls.memoKey;
    key2 = cls.memoKey2;
    if (usageBit !== 0 && (cls.usage & usageBit) === 0) slowCheck(top, cls, read, trylock, usageBit, false, key, key2);
  } else {
    key = chainExtend(from, cls.id, read, trylock);
    key2 = chainExtend2(from2, cls.id, read, trylock);
    let cached = true; // a memo may only vouch for a chain in the cache (chains.ts)
    if ((!trylock && !chainSeen(key, key2)) || (usageBit !== 0 && (cls.usage & usageBit) === 0)) {
      slowCheck(top, cls, read, trylock, usageBit, false, key, key2);
      cached = trylock || chainSeen(key, key2); // cached by now, unless a report listener reset lockdep
    }
    if (cached) {
      cls.memoFrom = from;
      cls.memoFrom2 = from2;
      cls.memoRT = rt;
      cls.memoKey = key;
      cls.memoKey2 = key2;
    }
  }
  const e = ctx.newEntry(cls, mode, read, trylock, wait, instance, rcu, top, key, key2, ctx.lastExecId);
  ctx.hold(r, e, attach);
  return e;
}

/** Bit for a non-trylock acquisition that waits `wait` (usage.ts). */
function usageOf(wait: WaitKind | undefined): number {
  return wait === 'async' ? USAGE_ACROSS : wait === 'sync' ? USAGE_SYNC : 0;
}

// ---------------------------------------------------------------- cross-thread merge

function mergeEdge(m: EdgeMsg): void {
  const from = intern(m.from);
  const to = intern(m.to);
  const old = from.after.get(to)?.dep ?? 0;
  const { edge, changed } = addEdge(from, to, m.dep, m.stack, m.thread, false, m.toRead);
  if (!changed) return;
  const fresh = m.dep & ~old;
  for (const bit of [DEP_EN, DEP_ER, 4 /* SN */, DEP_SR]) {
    if ((fresh & bit) === 0) continue;
    const toRecursive = bit === DEP_SR || bit === DEP_ER;
    const fromExclusive = bit === DEP_ER || bit === DEP_EN;
    const path = strongPath(to, toRecursive, from, fromExclusive);
    if (path === null) continue;
    // Every thread that finds the cycle records and broadcasts it at once (its edges' owners may
    // have exited, or be blocked in the deadlock); stderr gets it once per process (claimPrint).
    emit(pending('circular', [to.name, ...path.map((e) => e.to.name)], rep.remoteCircularText(rep.threadName, edge, path, fromExclusive, toRecursive)), true);
    return;
  }
  // A new pair may connect this thread's HELD-ACROSS-AWAIT class to its SYNC-BLOCKING one
  // (usage.ts: the usage bits are this thread's, the graph is everyone's). A local edge is checked
  // in validate(), a usage bit in checkNewUsage(); this is the third way the inversion can close,
  // so it is reported whichever of the three came last.
  if (old === 0) {
    const u = checkNewEdge(from, to, 0);
    if (u) emit(usageReport(u, '', `${rep.threadName} (the edge ${from.name} -> ${to.name} was taken in ${m.thread})`), true);
  }
}

function onMessage(m: Msg): void {
  if (!state.enabled) return;
  switch (m.t) {
    case 'edge':
      mergeEdge(m);
      break;
    case 'report':
      mergeReport(m);
      break;
    case 'hello':
      post({ t: 'sync', edges: allEdges().map(edgeMsg), reports: state.reports.map((r) => toMsg(r)) });
      break;
    case 'sync':
      for (const r of m.reports) mergeReport(r); // first: a cycle among the edges is then known
      for (const e of m.edges) mergeEdge(e);
      break;
    case 'reset':
      forgetLearned();
      break;
  }
}

function toMsg(r: LockdepReport): ReportMsg {
  return { t: 'report', kind: r.kind, classes: r.classes, text: r.text, key: keyOf.get(r) ?? rep.dedupKey(r.kind, r.classes) };
}

function mergeReport(m: ReportMsg): void {
  emit({ kind: m.kind as ReportKind, classes: m.classes, text: m.text, key: m.key }, false);
}

function onExit(): void {
  if (!state.enabled) return;
  const live = ctx.liveEntries().reverse();
  if (live.length === 0) return;
  emit(pending('held-at-exit', [...new Set(live.map((e) => e.cls.name))], rep.heldAtExitText(rep.threadName, live), rep.threadName), true);
}

/**
 * lockdep.reset() in any thread ('reset' message included): forget what was LEARNED (edges, chains
 * and class memos, usage bits, reports). What a thread HOLDS is not learned: a reset from another
 * thread leaves it alone (its holders are mid-section and will release), and this thread's own
 * reset() forgets it separately (engine.reset).
 */
function forgetLearned(): void {
  resetClasses();
  resetChains();
  resetUsageCount();
  state.reports = [];
  state.keys.clear();
}

/** Release `e` from resource r's context (or any other: then it is only marked released). */
function releaseEntry(e: Entry, r: ctx.Res): void {
  if (!ctx.unhold(e, r)) {
    if (ctx.releaseForgotten(e)) return; // held across this thread's reset(): balanced
    emit(pending('bad-unlock', [e.cls.name], rep.badUnlockText(who(), e.cls.name, stack(), ctx.heldList(ctx.current(r)))), true);
    return;
  }
  checkAcross(e);
}

/** A blocking-kind hold released in another event-loop turn than it was taken in was held across an await. */
function checkAcross(e: Entry): void {
  if (!e.trylock && e.wait !== 'async' && e.execId !== ctx.ADOPTED && (e.cls.usage & USAGE_ACROSS) === 0 && e.execId !== ctx.stamp() && state.enabled) {
    const u = checkNewUsage(e.cls, USAGE_ACROSS);
    markUsage(e.cls, USAGE_ACROSS, stack());
    if (u) emit(usageReport(u, stack()), true);
  }
}

// ---------------------------------------------------------------- the engine object hooks.ts calls

/*
 * Guards dropped while their lock is held (hooks.ts ld.track): 'held-at-exit' for async tasks.
 *
 * A FinalizationRegistry tells when a guard is collected while its entry is live. Registering
 * every async hold would cost more than all the rest of lockdep's work per `await lock()` (and
 * keeps each entry alive past a scavenge), so registration is lazy: track() only stores the guard
 * in entry.owner (unhold() clears it), and a sweep at most every SWEEP_MS registers the holds that
 * are still live then. A short hold, the steady state, is never registered. While an entry holds
 * its guard (owner) or its carrier promise (whose value is the guard), the guard cannot be
 * collected, so the sweep also retires the carrier of an entry it already registered: the await on
 * a lock() promise happens at once, a sweep period earlier. A task that ends holding a lock is
 * therefore reported one or two sweeps plus one garbage collection after it ends.
 */
const SWEEP_MS = 100;
const dropped = new FinalizationRegistry<Entry>((e) => {
  if (e.live && state.enabled) emit(pending('held-at-exit', [e.cls.name], rep.droppedText(rep.threadName, e)), true);
});
let sweepArmed = false;

function armSweep(): void {
  sweepArmed = true;
  later(sweep, SWEEP_MS).unref();
}

function sweep(): void {
  sweepArmed = false;
  if (!state.enabled) return;
  let again = false;
  for (const e of ctx.liveEntries()) {
    if (e.owner !== null) {
      dropped.register(e.owner, e);
      e.owner = null;
      again ||= e.carrier !== null;
    } else if (e.carrier !== null) {
      ctx.retireCarrier(e);
    }
  }
  if (again) armSweep();
}

/** Whether `a` names an action (lockdep.enable's check, and asAction below). */
export function isAction(a: unknown): a is Action {
  return a === 'throw' || a === 'collect' || a === 'warn';
}

/** An action named in an environment variable or in inherited options; anything else: 'warn'. */
export function asAction(a: unknown): Action {
  return isAction(a) ? a : 'warn';
}

/*
 * Passing lockdep on to workers: worker environment data (node:worker_threads) that enable() sets
 * and disable() deletes, holding this thread's options; every worker started afterwards (and
 * theirs) enables lockdep at load with them (hooks.ts, inheritedOptions()). `from` is the setter's
 * threadId: getEnvironmentData also returns what the current thread set, and a second copy of
 * quiesce loaded later in that same thread (two installed versions, a test runner's fresh module
 * registry) must not come up enabled because of it.
 */
export const INHERIT_KEY = 'quiesce.lockdep.enabled';

/** The options an enabling ancestor thread passed on to this one, if any (hooks.ts, at load). */
export function inheritedOptions(): { action: Action; stacks: boolean } | null {
  const o = getEnvironmentData(INHERIT_KEY) as { action?: unknown; stacks?: unknown; from?: unknown } | undefined;
  if (o === undefined || o === null || typeof o !== 'object' || o.from === threadId) return null;
  return { action: asAction(o.action), stacks: o.stacks !== false };
}

export const engine = {
  /**
   * hooks.ts ld.track: report an async hold if its guard is collected while still held (see
   * SWEEP_MS). Only holds taken by an async task: a task can end with those. A synchronous hold
   * left behind is still reported when its thread exits, and registering every guard with the
   * FinalizationRegistry would double the steady-state cost of a lockSync.
   */
  track(owner: object, h: HeldLock | null): void {
    if (h === null || h.wait !== 'async') return;
    (h as Entry).owner = owner;
    if (!sweepArmed) armSweep();
  },

  /** hooks.ts hands over the setter of `ld.on`. */
  bindFlag(fn: (on: boolean) => void): void {
    setFlag = fn;
    fn(state.enabled);
  },

  enable(o: { action?: Action; stacks?: boolean } = {}): void {
    state.action = o.action ?? 'warn';
    state.stacks = o.stacks !== false;
    if (!state.enabled) {
      state.enabled = true;
      ctx.startTracking();
      openChannel(onMessage);
      if (!state.exitHooked) {
        state.exitHooked = true;
        process.on('exit', onExit);
      }
    }
    setFlag(true);
    setEnvironmentData(INHERIT_KEY, { action: state.action, stacks: state.stacks, from: threadId }); // workers started from now on
  },

  /**
   * Disabled, lockdep is told of no release (primitives skip ld.release while `ld.on` is false), so
   * this thread's holds are forgotten now, as by its reset(): none can stay held forever after a
   * later enable(), and releasing one after it is balanced (context.ts forgotten).
   */
  disable(): void {
    if (state.enabled) ctx.clearAll();
    state.enabled = false;
    setFlag(false);
    ctx.stopTracking();
    closeChannel();
    setEnvironmentData(INHERIT_KEY, undefined); // deletes it: workers started from now on start disabled
  },

  /**
   * A clean slate for this thread, as the kernel's lockdep_reset() gives the current task: it also
   * forgets this thread's held locks. Their later release is balanced, not a 'bad-unlock'
   * (releaseEntry / releaseClass consume it silently, context.ts findForgotten).
   */
  reset(): void {
    ctx.clearAll();
    forgetLearned();
    clearClaims();
    post({ t: 'reset' });
  },

  get enabled(): boolean {
    return state.enabled;
  },

  get action(): Action {
    return state.action;
  },

  reports(): LockdepReport[] {
    return state.reports.slice();
  },

  onReport(cb: (r: LockdepReport) => void): () => void {
    state.listeners.add(cb);
    return () => void state.listeners.delete(cb);
  },

  classFor(name: string): LockClass {
    return intern(name);
  },

  acquire(c: LockClass, mode: LockMode, opts: AcquireOptions): HeldLock {
    const wait = opts.wait;
    if (wait !== 'none' && opts.try !== true && opts.waitContext === undefined) {
      const e = ctx.pushCached(c as Cls, mode, wait, opts.instance); // the steady state (header step 3)
      if (e !== null) return e;
    }
    const trylock = opts.try === true || wait === 'none';
    const attach = wait === 'async' && !trylock ? 'carrier' : 'current';
    const r = ctx.resource(); // also sets ctx.lastExecId, this turn's stamp
    // An acquisition that may block is a wait (the kernel's might_sleep() in mutex_lock): check the
    // wait context first. A sync wait is invalid while this thread holds a lock across a turn: an
    // async hold, or one taken in an earlier turn (context.ts heldAcrossTurns; quietStamp makes
    // that a scan at most once per turn while there is nothing to find). Integer tests only on
    // the steady-state path; the full check only if one fires.
    if (!trylock && !ctx.waitContextClean(wait, ctx.lastExecId)) engine.mightWait(wait as 'sync' | 'async', `acquiring ${c.name}`);
    return doAcquire(r, asCls(c), mode, trylock, wait, trylock ? 0 : usageOf(wait), attach, opts.instance, opts.waitContext === 'rcu');
  },

  /** The manual annotation API (lockdep.acquire): held by the current context. */
  acquireManual(c: LockClass, mode: LockMode, trylock: boolean, wait: 'sync' | 'async' | undefined): HeldLock {
    return doAcquire(ctx.resource(), asCls(c), mode, trylock, wait === undefined ? 'none' : wait, trylock ? 0 : usageOf(wait), 'current', undefined, false);
  },

  /** lockdep.release(cls): the newest held entry of cls in this context, else in this thread, else one its reset() forgot. */
  releaseClass(c: LockClass): void {
    const cls = asCls(c);
    const r = ctx.resource();
    const mine = ctx.findHeld(cls, r);
    if (mine !== null) return releaseEntry(mine, r);
    // Another context's hold: its guard still has the entry, so this release must not recycle it.
    for (const e of ctx.liveEntries()) if (e.cls === cls) return releaseEntry(e, r);
    const old = ctx.findForgotten(cls);
    if (old !== null) return void ctx.releaseForgotten(old); // held across this thread's reset()
    emit(pending('bad-unlock', [cls.name], rep.badUnlockText(who(), cls.name, stack(), ctx.heldList(ctx.current()))), true);
  },

  /** Index in `hs` of the newest handle the current context holds, else of the last (hooks.ts releaseOwn). */
  ownIndex(hs: HeldLock[]): number {
    for (let n = ctx.current(); n !== null; n = n.parent) {
      const i = hs.lastIndexOf(n.entry);
      if (i !== -1) return i;
    }
    return hs.length - 1;
  },

  abandon(h: HeldLock): void {
    ctx.unhold(h as Entry);
  },

  /** The current context stops holding `h`; the tasks it started meanwhile still do (context.ts leave). */
  leave(h: HeldLock): void {
    ctx.leave(h as Entry);
  },

  release(h: HeldLock | null | undefined): void {
    if (h == null) return; // ld.release(undefined) stays a no-op, as the hooks.ts wrapper made it
    const e = h as Entry;
    const popped = ctx.popOwn(e);
    if (popped === ctx.POP_SAME_TURN) ctx.recycle(e); // the guard's one release: nothing refers to e now (context.ts)
    else if (popped === ctx.POP_DONE) checkAcross(e);
    else if (popped === ctx.POP_NONE) releaseEntry(e, ctx.resource());
  },

  sync(c: LockClass, wait: WaitKind, _instance?: object): void {
    const cls = asCls(c);
    const usageBit = wait === 'sync' ? USAGE_SYNC : 0;
    const top = ctx.current();
    const key = chainExtend(top === null ? CHAIN_ROOT : top.key, cls.id, 0, false);
    const key2 = chainExtend2(top === null ? CHAIN_ROOT2 : top.key2, cls.id, 0, false);
    if (!chainSeen(key, key2) || (usageBit !== 0 && (cls.usage & usageBit) === 0)) slowCheck(top, cls, 0, false, usageBit, true, key, key2);
  },

  mightWait(wait: 'sync' | 'async', what: string): void {
    if (ctx.waitContextClean(wait, ctx.stamp())) return;
    const held = ctx.heldList(ctx.current());
    const rcu = held.filter((e) => e.rcu);
    const problems: Pending[] = [];
    if (rcu.length) {
      problems.push(pending('invalid-wait', rcu.map((e) => e.cls.name), rep.invalidWaitText(who(), wait, what, 'it is inside an RCU read-side section', rcu, stack()), wait + what));
    } else if (wait === 'sync' && ctx.liveLen !== 0) {
      const across = ctx.heldAcrossTurns();
      if (across.length !== 0) {
        const why = 'this thread has locks held across an event-loop turn (their holders cannot run while it blocks)';
        problems.push(pending('invalid-wait', across.map((e) => e.cls.name), rep.invalidWaitText(who(), wait, what, why, across, stack()), what));
      }
    }
    if (problems.length === 0) return;
    if (state.action === 'throw') fail(problems);
    for (const p of problems) emit(p, true);
  },

  handoff(h: HeldLock): HeldLockToken {
    const e = h as Entry;
    ctx.unhold(e);
    return { cls: e.cls.name, mode: e.mode };
  },

  adopt(t: HeldLockToken, instance?: object): HeldLock {
    const cls = intern(t.cls);
    const read = readOf(t.mode);
    const r = ctx.resource();
    const top = ctx.current(r);
    const key = chainExtend(top === null ? CHAIN_ROOT : top.key, cls.id, read, false);
    const key2 = chainExtend2(top === null ? CHAIN_ROOT2 : top.key2, cls.id, read, false);
    // execId -1: handed-off read sides live across contexts by design: no usage bit on release
    const e = ctx.newEntry(cls, t.mode, read, false, 'none', instance, false, top, key, key2, ctx.ADOPTED);
    ctx.hold(r, e, 'current');
    return e;
  },

  freeing(instance: object, what: string): void {
    const held = ctx.liveEntries().filter((e) => e.instance === instance);
    if (held.length === 0) return;
    emit(pending('held-freed', held.map((e) => e.cls.name), rep.heldFreedText(who(), what, held, stack())), true);
  },

  isHeld(c: LockClass, mode?: 'read' | 'write'): boolean {
    const cls = asCls(c);
    for (const e of ctx.heldList(ctx.current())) {
      if (e.cls !== cls) continue;
      if (mode === undefined || (mode === 'write' ? e.read === 0 : e.read !== 0)) return true;
    }
    return false;
  },

  report(kind: ReportKind, classes: string[], text: string): void {
    emit(pending(kind, classes, text), true);
  },
};
