/*
 * The narrow interface between the primitives and lockdep.
 *
 * Primitives never reach into lockdep's graph; they describe what they are about to do:
 *
 *   const h = ld.on ? ld.acquire(this.map, 'write', { wait: 'sync' }) : null;   // BEFORE waiting
 *   ... wait; on timeout/abort: ld.abandon(h) ...
 *   guard.unlock(): ld.release(h)                                                // from any context
 *
 * `ld.on` is the one well-predicted branch paid when lockdep is disabled.
 *
 * Kinds of acquirer (design/lockdep.md): 'write' (E), 'read' (r, a non-recursive reader: RwSem,
 * PercpuRwSem, and the pseudo-lock readers of waits: signaller, hold(), Access), 'recursive-read'
 * (R: RCU and SRCU readers, RCU callbacks).
 *
 * `wait` says how the caller blocks if the lock is busy: 'sync' (Atomics.wait, the thread stops),
 * 'async' (the task awaits; the thread goes on) or 'none' (a trylock: no edge to the lock taken).
 *
 * THIS FILE IS THE CONTRACT. lockdep/ implements it (see lockdep/index.ts); primitives import
 * only from here.
 */
import { asAction, engine, inheritedOptions } from './engine.js';
import { installFileSink } from './sink.js';

export type LockMode = 'write' | 'read' | 'recursive-read';
export type WaitKind = 'sync' | 'async' | 'none';

/** A lockdep class: every lock of one class obeys the same ordering rules. Interned by name. */
export interface LockClass {
  readonly name: string;
  /** Process-local small integer, stable for the life of the process. */
  readonly id: number;
}

/** Opaque record of one held lock, owned by the context that holds it (or handed off). */
export interface HeldLock {
  readonly cls: LockClass;
  readonly mode: LockMode;
  /** How the acquirer waited (AcquireOptions.wait). */
  readonly wait: WaitKind;
}

export interface AcquireOptions {
  wait: WaitKind;
  /** The lock instance (for 'held-freed' and instance-level checks). */
  instance?: object;
  /** True if this acquisition is a trylock (adds no dependency edge to the lock it takes). */
  try?: boolean;
  /**
   * 'rcu': this acquisition opens an RCU read-side section (mode 'recursive-read'); any
   * mightWait() inside it is an 'invalid-wait' report.
   */
  waitContext?: 'rcu';
}

/** Structured-cloneable description of a held read side on its way to another context. */
export interface HeldLockToken {
  cls: string;
  mode: LockMode;
}

/** The fast flag: `if (ld.on)`. Mutated only by lockdep.enable()/disable(). */
export const ld = {
  on: false,

  /** Intern a class by name (same name, same class, in this process; graphs merge by name across threads). */
  classFor(name: string): LockClass {
    return engine.classFor(name);
  },

  /**
   * Record an acquisition in the current context, validating it first. Call BEFORE waiting. With
   * action 'throw' a would-be deadlock throws ERR_LOCKDEP here and nothing is recorded.
   */
  acquire: engine.acquire, // the engine's own function: no wrapper frame on the hot path

  /** The acquisition that acquire() announced did not happen (timeout, abort, error). */
  abandon(h: HeldLock | null): void {
    if (h) engine.abandon(h);
  },

  /** Release a held lock, from whatever context the owner (a guard) is in now. */
  release: engine.release, // (h: HeldLock | null): void; null is a no-op

  /**
   * `h`, taken in the synchronous prologue of an async function (which runs on its caller's
   * context), is held by the tasks that prologue started, not by the caller: call it once those
   * tasks exist (Revocable.withAccess, Srcu.read). An await of the function's own made after it
   * does not hold h: one that must (a release by class, releaseOwn) is set up before it.
   * Still released with release().
   */
  leave(h: HeldLock | null): void {
    if (h) engine.leave(h);
  },

  /**
   * For an unlock that names no handle (srcu.readUnlock(idx)): take out of `hs` (this thread's
   * holds of one lock, oldest first) the one the CURRENT context holds, else the newest, and
   * release it. Two async tasks of one thread may each hold one: each must end its own.
   */
  releaseOwn(hs: HeldLock[] | undefined): void {
    if (hs === undefined || hs.length === 0) return;
    engine.release(hs.splice(engine.ownIndex(hs), 1)[0]!);
  },

  /**
   * "I wait for everyone inside `cls`" (the kernel's lock_map_acquire+release / lock_map_sync):
   * records held -> cls as if cls were taken for write and dropped at once. Call before waiting.
   */
  sync(cls: LockClass, wait: WaitKind, instance?: object): void {
    engine.sync(cls, wait, instance);
  },

  /**
   * "I am about to wait for everyone inside `cls`" — the one call every waiting primitive makes
   * before it waits (completion.wait, ref.drain, revocable.revoke, synchronize, barrier): the wait
   * context check (mightWait) plus the dependency on `cls` (sync).
   */
  waitFor(cls: LockClass, wait: 'sync' | 'async', what: string, instance?: object): void {
    engine.mightWait(wait, what);
    engine.sync(cls, wait, instance);
  },

  /** A wait is about to happen ('sync': the thread blocks; 'async': the task awaits). Checks wait context. */
  mightWait(wait: 'sync' | 'async', what: string): void {
    engine.mightWait(wait, what);
  },

  /**
   * `owner` (a guard) is the only way to release `h`. If it is garbage-collected while `h` is
   * still held, the task that held it has ended without releasing it and nothing ever can:
   * 'held-at-exit', like a thread that exits holding locks (async holds only; see engine.ts).
   * The engine's own function, as acquire and release are: every `await lock()` calls it from the
   * guard's constructor, and one call level less is V8 inlining it there (measured: ~0.1x of the
   * async lockdep bench row).
   */
  track: engine.track, // (owner: object, h: HeldLock | null): void

  /** Take a held lock out of the current context (read-side handoff). */
  handoff(h: HeldLock): HeldLockToken {
    return engine.handoff(h);
  },

  /** Put a handed-off read side into the current context. */
  adopt(token: HeldLockToken, instance?: object): HeldLock {
    return engine.adopt(token, instance);
  },

  /** An instance is being re-initialised or destroyed: reports 'held-freed' if some context holds it. */
  freeing(instance: object, what: string): void {
    engine.freeing(instance, what);
  },

  /** True if the current context holds `cls` (optionally in that mode). */
  isHeld(cls: LockClass, mode?: 'read' | 'write'): boolean {
    return engine.isHeld(cls, mode);
  },

  /** Raise a report found by a primitive itself (e.g. 'rcu-misuse', 'bad-unlock'). */
  report(kind: ReportKind, classes: string[], text: string): void {
    engine.report(kind, classes, text);
  },
};

// lockdep flips `ld.on`; at load, before any primitive runs, QUIESCE_LOCKDEP=1
// (QUIESCE_LOCKDEP_ACTION=throw|warn|collect) enables it in every thread, and otherwise an
// enable() of the thread (or an ancestor) that started this one does (engine.ts inheritedOptions;
// every enable() passes its options on, so the env-var one reaches workers with an env of their own).
engine.bindFlag((on) => {
  ld.on = on;
});
if (typeof process !== 'undefined' && process.env.QUIESCE_LOCKDEP === '1') {
  engine.enable({ action: asAction(process.env.QUIESCE_LOCKDEP_ACTION) });
  // `quiesce check` collects every thread's reports through this file (lockdep/sink.ts).
  if (process.env.QUIESCE_LOCKDEP_OUT) installFileSink(process.env.QUIESCE_LOCKDEP_OUT, (cb) => engine.onReport(cb));
} else {
  const inherited = inheritedOptions();
  if (inherited !== null) engine.enable(inherited);
}

export type ReportKind =
  | 'circular'
  | 'recursive'
  | 'bad-unlock'
  | 'held-freed'
  | 'inconsistent-usage'
  | 'invalid-wait'
  | 'held-at-exit'
  | 'rcu-misuse';

export interface LockdepReport {
  kind: ReportKind;
  classes: string[];
  text: string;
}
