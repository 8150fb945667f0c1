/*
 * The public lockdep API (SPEC §6). A thin layer over engine.ts: everything here is the manual
 * annotation API (for locks quiesce does not own) plus enable/disable, reports and the graph.
 * Primitives use hooks.ts instead. Disabled, an annotation costs its argument check and one branch
 * on `ld.on`.
 *
 * Choices where SPEC is silent:
 *  - lockdep.acquire() is held by the CURRENT context (the thread's synchronous code, or the async
 *    task running it); an optional `wait: 'sync' | 'async'` says how the annotated lock blocks,
 *    feeding the JS usage rules (omitted: no usage bit).
 *  - lockdep.release(cls) releases the newest held lock of that class in the current context, else
 *    one held by another context of this thread (a guard may unlock from anywhere); none: 'bad-unlock'.
 *  - assertHeld/assertNotHeld throw ERR_LOCKDEP when the assertion fails (no-ops while disabled).
 *  - enable()/disable() act on the calling thread now and on every worker it starts afterwards
 *    (inherited through worker environment data, engine.ts); workers already running keep their
 *    own setting (QUIESCE_LOCKDEP=1 enables every thread from its start). Annotations and
 *    assertions check their arguments (ERR_INVALID_ARG) whether or not lockdep is enabled.
 *  - action 'throw' throws ERR_LOCKDEP from acquisitions (circular, recursive, inconsistent-usage)
 *    and waits (invalid-wait); bad unlocks, freed held locks, exits with locks held and primitive-
 *    raised reports are recorded/printed but never thrown.
 */
import { ld, type LockClass, type LockMode, type LockdepReport } from './hooks.js';
import { engine, isAction, type Action } from './engine.js';
import { graphSnapshot, toDot } from './graph.js';
import { QuiesceError } from '../errors.js';

export type { LockClass, LockdepReport, LockMode, ReportKind, HeldLock, HeldLockToken, AcquireOptions, WaitKind } from './hooks.js';

export interface LockdepEnableOptions {
  action?: Action;
  stacks?: boolean;
}

export interface LockdepAcquireOptions {
  mode?: LockMode;
  try?: boolean;
  /** Extension: how the annotated lock waits ('sync' blocks the thread, 'async' awaits). */
  wait?: 'sync' | 'async';
}

export type LockdepGraph = { classes: string[]; edges: { from: string; to: string; type: 'ER' | 'EN' | 'SR' | 'SN' }[] };

/** A lock class, or any object exposing one (quiesce's primitives do: `mutex.lockdepClass`). */
export type LockdepTarget = LockClass | { readonly lockdepClass: LockClass };

function classOf(lock: LockdepTarget, what: string): LockClass {
  const l = lock as { lockdepClass?: LockClass; name?: unknown; id?: unknown };
  if (l && typeof l === 'object') {
    if (l.lockdepClass && typeof l.lockdepClass.name === 'string') return l.lockdepClass;
    if (typeof l.name === 'string' && typeof l.id === 'number') return l as LockClass;
  }
  throw new QuiesceError('ERR_INVALID_ARG', `lockdep.${what}: expected a LockClass or an object with a lockdepClass`);
}

/** The manual annotations' class argument: a LockClass (lockdep.lockClass(), or a primitive's lockdepClass). */
function classArg(cls: unknown, what: string): LockClass {
  const c = cls as { name?: unknown; id?: unknown } | null;
  if (c === null || typeof c !== 'object' || typeof c.name !== 'string' || typeof c.id !== 'number') {
    throw new QuiesceError('ERR_INVALID_ARG', `lockdep.${what}: expected a LockClass (from lockdep.lockClass(name), or a primitive's lockdepClass)`);
  }
  return cls as LockClass;
}

/** lockdep.acquire's options, checked whether or not lockdep is enabled (bad input is caught at the call). */
function acquireArgs(o: unknown): { mode: LockMode; try: boolean; wait: 'sync' | 'async' | undefined } {
  if (o === undefined) return { mode: 'write', try: false, wait: undefined };
  if (o === null || typeof o !== 'object') throw new QuiesceError('ERR_INVALID_ARG', 'lockdep.acquire: options must be an object');
  const { mode = 'write', try: t = false, wait } = o as LockdepAcquireOptions;
  if (mode !== 'write' && mode !== 'read' && mode !== 'recursive-read') {
    throw new QuiesceError('ERR_INVALID_ARG', `lockdep.acquire: mode must be 'write', 'read' or 'recursive-read', got ${String(mode)}`);
  }
  if (typeof t !== 'boolean') throw new QuiesceError('ERR_INVALID_ARG', 'lockdep.acquire: try must be a boolean');
  if (wait !== undefined && wait !== 'sync' && wait !== 'async') {
    throw new QuiesceError('ERR_INVALID_ARG', `lockdep.acquire: wait must be 'sync' or 'async', got ${String(wait)}`);
  }
  return { mode, try: t, wait };
}

export const lockdep = {
  enable(options?: LockdepEnableOptions): void {
    const a = options?.action;
    if (a !== undefined && !isAction(a)) {
      throw new QuiesceError('ERR_INVALID_ARG', `lockdep.enable: action must be 'throw', 'warn' or 'collect', got ${String(a)}`);
    }
    engine.enable(options ?? {}); // also for the workers this thread starts from now on (engine.ts)
  },
  disable(): void {
    engine.disable();
  },
  reset(): void {
    engine.reset();
  },
  get enabled(): boolean {
    return engine.enabled;
  },
  reports(): LockdepReport[] {
    return engine.reports();
  },
  onReport(cb: (r: LockdepReport) => void): () => void {
    return engine.onReport(cb);
  },
  assertHeld(lock: LockdepTarget, mode?: 'read' | 'write'): void {
    const cls = classOf(lock, 'assertHeld');
    if (mode !== undefined && mode !== 'read' && mode !== 'write') {
      throw new QuiesceError('ERR_INVALID_ARG', `lockdep.assertHeld: mode must be 'read' or 'write', got ${String(mode)}`);
    }
    if (!ld.on) return;
    if (!engine.isHeld(cls, mode)) {
      throw new QuiesceError('ERR_LOCKDEP', `lockdep: lock class '${cls.name}' is not held${mode ? ` for ${mode}` : ''} by the current context`);
    }
  },
  assertNotHeld(lock: LockdepTarget): void {
    const cls = classOf(lock, 'assertNotHeld');
    if (!ld.on) return;
    if (engine.isHeld(cls)) throw new QuiesceError('ERR_LOCKDEP', `lockdep: lock class '${cls.name}' is held by the current context`);
  },
  lockClass(name: string): LockClass {
    if (typeof name !== 'string' || name.length === 0) throw new QuiesceError('ERR_INVALID_ARG', 'lockdep.lockClass: name must be a non-empty string');
    return engine.classFor(name);
  },
  acquire(cls: LockClass, o?: LockdepAcquireOptions): void {
    const c = classArg(cls, 'acquire');
    const a = acquireArgs(o);
    if (!ld.on) return;
    engine.acquireManual(c, a.mode, a.try, a.wait);
  },
  release(cls: LockClass): void {
    const c = classArg(cls, 'release');
    if (!ld.on) return;
    engine.releaseClass(c);
  },
  sync(cls: LockClass): void {
    const c = classArg(cls, 'sync');
    if (!ld.on) return;
    engine.sync(c, 'none');
  },
  graph(): LockdepGraph {
    return graphSnapshot();
  },
  toDot(): string {
    return toDot();
  },
};

export default lockdep;
