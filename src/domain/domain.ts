/*
 * Domain: one SharedArrayBuffer and the threads that use it (SPEC §1).
 *
 * A registered thread plays the role of a kernel CPU: it owns a slot (domain/threads.ts) and a
 * per-thread area (domain/layout.ts). Named objects are created on first use by any thread and
 * found by name by every other (domain/registry.ts); each thread builds its own small wrapper
 * object around the shared state, cached here by name.
 *
 * Workers: spawn() reserves a slot, then starts the worker with the handle in worker_threads'
 * environment data (workerData and argv pass through untouched) and names the worker's threadId
 * in the reservation; Domain.attach() in that worker claims the reserved slot (with no argument, or
 * with that domain's handle passed explicitly, e.g. in workerData). Environment data is
 * inherited by sub-workers, so a sub-worker sees its parent's reservation too: it is refused
 * (attach() with no argument throws ERR_NOT_ATTACHED; with a handle it claims a free slot).
 *
 * Death (SPEC §1: grace periods stop waiting for a dead worker at once). A slot is marked DEAD,
 * which bumps and notifies RCU_QS_EVENTS (threads.ts), releasing every grace period waiting for
 * it and letting robust mutexes and drains see the death, from two places:
 *  - the dying worker itself: every attached worker thread listens to its own process 'exit',
 *    which Node emits in a worker on a normal exit, process.exit() and an uncaught error, and
 *    marks its slots dead there. This needs no other thread's event loop, so it covers workers
 *    that nobody watches (a pool started before its creator attached) and spawners that are
 *    blocked in a *Sync wait (the notify wakes them). Nothing of the thread runs after its
 *    'exit' listeners, except listeners it registered after attaching: those must not use the
 *    domain.
 *  - the thread that started it, for terminate() (the worker runs no JS then): spawn() watches
 *    its worker's 'exit', and every attached thread listens to process 'worker' events and, when
 *    a worker it started exits, marks dead any slot that worker's threadId occupies in any domain
 *    this thread is attached to. This runs on the starting thread's event loop only: a worker
 *    that starts before its starter attached is not seen, and a starter blocked in a *Sync wait
 *    learns of a terminate() only when the wait returns (a blocked thread cannot tell a
 *    terminated worker from a busy one; `await worker.terminate()` before blocking).
 *  - a worker's own workers stop with it, and run no JS then: whoever watches the worker marks
 *    dead, with it, every live slot of a thread it started, directly or not (threads.ts T_PARENT,
 *    descendantsOf()). The starter of each thread is what the thread inherits through worker_threads
 *    environment data (PARENT_KEY): every thread that loads quiesce sets it to its own threadId
 *    for the workers it starts afterwards (a spawn() reservation names its reserver directly).
 * markDead() names the generation and is a CAS, so whichever comes second does nothing.
 * The dying worker's own handlers run with its slot already DEAD, so that robust locks see the
 * death at once; the few locks their sections take (rcu_sync's) must not be stolen from it
 * meanwhile: markOwnDeath() flags the slot as running its own handlers (threads.ts), and the
 * watchers above clear the flag once the worker has stopped, should terminate() cut them short.
 * The handlers it had not run yet must still run: the watcher that clears the flag (a CAS, so
 * exactly one of the two) runs them all again for that slot, on its own thread. So every death
 * handler must be safe to run again after a partial run cut short anywhere (each names why).
 */
import { Worker, getEnvironmentData, isMainThread, setEnvironmentData, threadId, type WorkerOptions } from 'node:worker_threads';
import { QuiesceError } from '../errors.js';
import { Rcu } from '../rcu/rcu.js';
import { Srcu } from '../rcu/srcu.js';
import { PercpuRef, type PercpuRefOptions } from '../ref/percpu-ref.js';
import { DomainCore } from './core.js';
import {
  H_MAGIC,
  H_NAME_LEN,
  H_NAME_OFF,
  H_VERSION,
  KIND_NAMES,
  Kind,
  LAYOUT_VERSION,
  MAGIC,
  PR_HEADER_BYTES,
  PR_PERCPU_BYTES,
  RCU_QS_EVENTS,
  SRCU_HEADER_BYTES,
  SRCU_PERCPU_BYTES,
  T_STATE,
  computeGeometry,
  domainKey,
  readGeometry,
  slotWord,
  writeGeometry,
} from './layout.js';
import { hashString, type Layout } from './registry.js';
import { Mutex } from '../locks/mutex.js';
import { RwSem } from '../locks/rwsem.js';
import type { PercpuReadGuard } from '../locks/percpu-rwsem.js';
import type { ReadGuard } from '../locks/rw-guards.js';
import type { Access } from '../locks/revocable.js';
import { Completion } from '../locks/completion.js';
import { PercpuRwSem } from '../locks/percpu-rwsem.js';
import { Revocable } from '../locks/revocable.js';
import { PRW_HEADER_BYTES, PRW_PERCPU_BYTES, REV_HEADER_BYTES, REV_PERCPU_BYTES } from './layout.js';
import { isHandoffToken, type HandoffToken } from '../locks/handoff.js';
import { COMPLETION_HEADER_BYTES, MUTEX_HEADER_BYTES, RWSEM_HEADER_BYTES, RWSEM_PERCPU_BYTES } from './layout.js';
import { registerAttached, unregisterAttached, type AttachedSlot } from './thread.js';

/** Structured-cloneable: pass it through postMessage or workerData, then Domain.attach(handle). */
export interface DomainHandle {
  readonly kind: 'quiesce.domain';
  readonly version: number;
  readonly sab: SharedArrayBuffer;
}

export interface DomainOptions {
  /** Size of the shared buffer in bytes, a multiple of 4 (default 8 MiB; at least 64 KiB). */
  bytes?: number;
  /** Most threads that may ever attach, dead ones included (default 64). */
  maxThreads?: number;
  /** Shown in every message about this domain (default 'default'). */
  name?: string;
}

/** Options every named lock-like object takes: its lockdep class (default: the object's name). */
export interface LockOptions {
  class?: string;
}

const ENV_KEY = 'quiesce:spawn';
/**
 * The threadId of the thread that started this one (inherited environment data; -1 if it did not
 * load quiesce first), read before this thread replaces it with its own for the workers it starts
 * (see the header: a worker's sub-workers die with it).
 */
const PARENT_KEY = 'quiesce:thread';
const parentThread = ((p: unknown): number => (typeof p === 'number' ? p : -1))(getEnvironmentData(PARENT_KEY));
setEnvironmentData(PARENT_KEY, threadId);
const DEFAULT_BYTES = 8 << 20;
const DEFAULT_MAX_THREADS = 64;

/**
 * Domains this thread is attached to, by identity (layout.ts domainKey: not by buffer object, as a
 * buffer that crossed threads is a new object): attach() twice gives the same Domain.
 */
const attachedDomains = new Map<string, Domain>();
/** Domains whose spawn reservation this thread has claimed (a re-attach after detach takes a new slot). */
const claimedReservations = new Set<string>();
/** The same domains' cores, to watch workers this thread starts (see the header). */
const attachedCores = new Set<DomainCore>();
let watchingWorkers = false;

/** Watch every worker this thread starts, however it is started: its exit kills its slots. */
function watchWorkers(): void {
  if (watchingWorkers) return;
  watchingWorkers = true;
  process.on('worker', (w: Worker) => {
    const tid = w.threadId; // -1 once the worker has stopped: capture it now
    w.once('exit', () => {
      for (const core of attachedCores) watcherSawExit(core, tid, core.threads.slotsOfThread(tid));
    });
  });
}

/**
 * A watcher saw the worker `tid` stop: mark its live `slots` dead and run the death handlers; and
 * for a slot it had marked DEAD itself but whose handlers terminate() cut short, run them again
 * (stopped() hands each such slot to one watcher only; see the header).
 */
function watcherSawExit(core: DomainCore, tid: number, slots: readonly { slot: number; gen: number }[]): void {
  const handled = new Set<number>();
  const kill = (list: readonly { slot: number; gen: number }[]): void => {
    for (const { slot, gen } of list) {
      if (core.threads.markDead(slot, gen)) {
        handled.add(slot);
        core.handleDeath(slot);
      }
    }
  };
  kill(slots);
  // Its own workers, and theirs, stopped with it, running no JS (see the header).
  const gone = core.threads.descendantsOf(tid);
  for (const t of gone) kill(core.threads.slotsOfThread(t));
  // (A slot marked just above may have had T_OWN_DEATH set too, if the worker was stopped between
  // markOwnDeath()'s store and its CAS: its handlers have just run in full.)
  for (const t of [tid, ...gone]) for (const slot of core.threads.stopped(t)) if (!handled.has(slot)) core.handleDeath(slot);
}

let markingOwnDeath = false;

/** A worker marks its own slots dead when it exits (see the header: 'exit' is its last JS). */
function markOwnDeathAtExit(): void {
  if (markingOwnDeath || isMainThread) return; // the main thread's exit ends every thread
  markingOwnDeath = true;
  process.on('exit', () => {
    for (const core of attachedCores) {
      if (core.attached && core.threads.markOwnDeath(core.slot, core.gen)) {
        try {
          core.handleDeath(core.slot);
        } finally {
          core.threads.ownDeathHandled(core.slot);
        }
      }
    }
  });
}

interface SpawnInfo {
  handle: DomainHandle;
  slot: number;
  gen: number;
}

function checkHandle(h: unknown): DomainHandle {
  const bad = (why: string): QuiesceError => new QuiesceError('ERR_BAD_HANDLE', `Domain.attach: ${why}`);
  if (h === null || typeof h !== 'object') throw bad('the handle must be the object from domain.handle');
  const x = h as Partial<DomainHandle>;
  if (x.kind !== 'quiesce.domain' || !(x.sab instanceof SharedArrayBuffer)) throw bad('not a quiesce domain handle');
  if (x.version !== LAYOUT_VERSION) throw bad(`handle is from layout version ${String(x.version)}, this quiesce uses ${LAYOUT_VERSION}`);
  // The size first: an Int32Array view of a length that is not a multiple of 4 throws a RangeError.
  const notDomain = (): QuiesceError => bad('the shared buffer is not an initialised quiesce domain (corrupt handle?)');
  if (x.sab.byteLength < 4096 || x.sab.byteLength % 4 !== 0) throw notDomain();
  const i32 = new Int32Array(x.sab);
  if (Atomics.load(i32, H_MAGIC) !== MAGIC || i32[H_VERSION] !== LAYOUT_VERSION) throw notDomain();
  return x as DomainHandle;
}

export class Domain {
  /** @internal */ readonly core: DomainCore;
  readonly handle: DomainHandle;
  private readonly objects = new Map<string, { kind: Kind; optsHash: number; obj: unknown }>();
  private rcuInstance: Rcu | undefined;
  private attachedSlot: AttachedSlot | undefined;

  private constructor(core: DomainCore) {
    this.core = core;
    this.handle = Object.freeze({ kind: 'quiesce.domain', version: LAYOUT_VERSION, sab: core.sab });
  }

  /** Create a domain and register the calling thread in it. */
  static create(options: DomainOptions = {}): Domain {
    if (options === null || typeof options !== 'object') throw new QuiesceError('ERR_INVALID_ARG', 'Domain.create(options): options must be an object');
    const bytes = options.bytes ?? DEFAULT_BYTES;
    const maxThreads = options.maxThreads ?? DEFAULT_MAX_THREADS;
    const name = options.name ?? 'default';
    // A multiple of 4: the buffer is viewed as one Int32Array (layout.ts).
    if (!Number.isInteger(bytes) || bytes < 65536 || bytes > 1 << 30 || bytes % 4 !== 0) {
      throw new QuiesceError('ERR_INVALID_ARG', `Domain.create: bytes must be a multiple of 4 from 65536 to 2^30, got ${String(bytes)}`);
    }
    if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1024) {
      throw new QuiesceError('ERR_INVALID_ARG', `Domain.create: maxThreads must be an integer from 1 to 1024, got ${String(maxThreads)}`);
    }
    if (typeof name !== 'string' || name.length === 0) throw new QuiesceError('ERR_INVALID_ARG', 'Domain.create: name must be a non-empty string');
    const g = computeGeometry(bytes, maxThreads);
    if (g.percpuStride < 256) {
      throw new QuiesceError('ERR_OUT_OF_SHARED_MEMORY', `Domain '${name}': ${bytes} bytes leave too little per-thread memory for ${maxThreads} threads`);
    }
    const sab = new SharedArrayBuffer(bytes);
    const i32 = new Int32Array(sab);
    const core = new DomainCore(sab, g);
    writeGeometry(i32, g); // the buffer is not shared yet: nobody can see it half-written
    const s = core.alloc.stringAlloc(name);
    i32[H_NAME_OFF] = s.off;
    i32[H_NAME_LEN] = s.len;
    const d = new Domain(core);
    d.join(core.threads.claim(threadId, parentThread));
    attachedDomains.set(domainKey(i32), d);
    return d;
  }

  /**
   * Attach the calling thread. In a worker started by domain.spawn(), call it with no argument;
   * elsewhere pass a handle received through workerData or postMessage.
   */
  static attach(handle?: DomainHandle): Domain {
    const implicit = handle === undefined;
    let reserved = getEnvironmentData(ENV_KEY) as SpawnInfo | undefined;
    if (implicit) {
      if (!reserved) {
        throw new QuiesceError('ERR_NOT_ATTACHED', 'Domain.attach(): no handle given and this thread was not started by domain.spawn()');
      }
      handle = reserved.handle;
    }
    const h = checkHandle(handle);
    const key = domainKey(new Int32Array(h.sab));
    const existing = attachedDomains.get(key);
    if (existing && existing.core.attached) return existing;
    // With an explicit handle of the domain that spawned this worker, the reservation is still
    // this worker's (a second slot would leave it STARTING until exit); of another domain, unused.
    if (reserved && domainKey(new Int32Array(reserved.handle.sab)) !== key) reserved = undefined;
    const core = new DomainCore(h.sab, readGeometry(new Int32Array(h.sab)));
    const d = new Domain(core);
    let got: { slot: number; gen: number } | null = null;
    if (reserved) {
      got = core.threads.claimReserved(reserved.slot, reserved.gen, threadId);
      if (got) claimedReservations.add(key);
    }
    if (!got && implicit && !claimedReservations.has(key)) {
      // Not this thread's reservation. Environment data is inherited: this is e.g. a plain
      // sub-worker of a spawned worker. (The spawned worker itself, attaching again after a
      // detach(), gets a fresh slot as before.)
      throw new QuiesceError(
        'ERR_NOT_ATTACHED',
        `Domain.attach(): no handle given and this thread was not started by domain.spawn() of domain '${core.name}' (the spawn reservation it sees belongs to another thread, e.g. the worker that started this one)`,
      );
    }
    d.join(got ?? core.threads.claim(threadId, parentThread));
    attachedDomains.set(key, d);
    return d;
  }

  private join(s: { slot: number; gen: number }): void {
    const core = this.core;
    core.slot = s.slot;
    core.gen = s.gen;
    this.rcuInstance = new Rcu(core);
    const rcu = this.rcuInstance;
    core.rcuCall = (fn) => rcu.call(fn);
    this.attachedSlot = {
      i32: core.i32,
      stateIndex: slotWord(core.g, s.slot, T_STATE),
      qsEventsIndex: RCU_QS_EVENTS,
      inReadSection: () => rcu.inReadSection,
      offlineDepth: 0,
    };
    registerAttached(this.attachedSlot);
    attachedCores.add(core);
    watchWorkers();
    markOwnDeathAtExit();
  }

  get name(): string {
    return this.core.name;
  }

  /** This thread's slot, 0..maxThreads-1. */
  get threadIndex(): number {
    this.core.checkAttached(`Domain '${this.name}'`);
    return this.core.slot;
  }

  get maxThreads(): number {
    return this.core.g.maxThreads;
  }

  /** The domain's RCU (one per domain, like the kernel's). */
  get rcu(): Rcu {
    this.core.checkAttached(`Domain '${this.name}'`);
    return this.rcuInstance!;
  }

  /**
   * Start a worker_threads Worker that can Domain.attach() with no argument. workerData, argv and
   * every other option pass through unchanged. The worker is watched: when it exits, crashes or is
   * terminated its slot is marked dead (see the header comment).
   */
  spawn(filename: string | URL, options?: WorkerOptions): Worker {
    this.core.checkAttached(`Domain '${this.name}'`);
    const core = this.core;
    const r = core.threads.reserve(threadId);
    const prev = getEnvironmentData(ENV_KEY);
    let w: Worker;
    try {
      setEnvironmentData(ENV_KEY, { handle: this.handle, slot: r.slot, gen: r.gen } satisfies SpawnInfo);
      w = new Worker(filename, options);
      core.threads.reserveFor(r.slot, r.gen, w.threadId); // only this worker may claim the slot
    } catch (e) {
      core.threads.unreserve(r.slot, r.gen);
      throw e;
    } finally {
      setEnvironmentData(ENV_KEY, prev as never);
    }
    const tid = w.threadId;
    w.once('exit', () => watcherSawExit(core, tid, [r]));
    return w;
  }

  /**
   * This thread leaves the domain for good (like CPU unplug). Its per-thread counters stay counted.
   * Its pending rcu.call()/srcu.call() callbacks run first, here: detach() blocks (offline) for
   * their grace periods, so barrier() never misses them (rcu/callbacks.ts header). So do the
   * PercpuRef switches it owns (a kill's switch to atomic mode, a killAll's folds). A grace period
   * it drives is handed back (any waiter takes it over), since its slot may get a new occupant.
   * Inside an RCU or SRCU read section it throws ERR_RCU_MISUSE and changes nothing.
   */
  detach(): void {
    const core = this.core;
    if (!core.attached) return;
    if (this.rcuInstance?.inReadSection) throw new QuiesceError('ERR_RCU_MISUSE', `Domain '${this.name}': detach() inside an RCU read section`);
    // Nor inside an SRCU section (of any task): a FREE slot's counters stay in every sum, so the
    // section would hold the Srcu's grace periods up for good once the thread exited, while a
    // thread that dies attached is left out of them (rcu/srcu.ts).
    // (With call() callbacks of that Srcu pending, the wait for them could never end: ERR_DEADLOCK.)
    for (const s of this.ofKind<Srcu>(Kind.Srcu)) {
      if (s.pendingCallbacks > 0) s.checkNotHeld('detach() with pending call() callbacks');
      if (s.holdsReadSection()) throw new QuiesceError('ERR_RCU_MISUSE', `Domain '${this.name}': detach() inside a read section of Srcu '${s.name}'`);
    }
    // Nor while this thread holds a lock or a Revocable access: its slot becomes FREE, not DEAD, so
    // nobody would ever take the lock over (ownerDied is for dead owners), the slot's next occupant
    // would appear to hold it (and share the per-thread words it is counted in). A hold left here
    // could only be waited for forever: ERR_DEADLOCK, and nothing changes.
    for (const kind of [Kind.Mutex, Kind.RwSem, Kind.PercpuRwSem, Kind.Revocable]) {
      for (const lock of this.ofKind<Mutex | RwSem | PercpuRwSem | Revocable>(kind)) {
        const how = lock.heldHere();
        if (how !== null) {
          throw new QuiesceError('ERR_DEADLOCK', `Domain '${this.name}': detach() while this thread holds ${KIND_NAMES[kind]} '${lock.name}' (${how}): its waiters would wait forever; let go of it first`);
        }
      }
    }
    // Callbacks may queue more callbacks, of either flavour (on Srcus they create, too): until every
    // queue is empty.
    for (;;) {
      const srcus = this.ofKind<Srcu>(Kind.Srcu);
      for (const s of srcus) if (s.pendingCallbacks > 0) s.checkNotHeld('detach() with pending call() callbacks');
      for (const s of srcus) s.drainCallbacksSync();
      this.rcuInstance!.drainCallbacksSync();
      if (this.rcuInstance!.pendingCallbacks === 0 && srcus.every((s) => s.pendingCallbacks === 0)) break;
    }
    // Every PercpuRef switch this thread owns (kill/switchToAtomic drivers, killAll marks) ends
    // here too, driven synchronously (offline while it waits for its grace period): left to the
    // async drivers that outlive detach(), a switch owned by a FREE slot would be taken over and
    // ended a second time (percpu-ref.ts header, "switch ownership").
    // And then no fast path of this thread may write the slot's counters (percpu-ref.ts detached()).
    for (const ref of this.ofKind<PercpuRef>(Kind.PercpuRef)) {
      ref.completeOwnSwitchesSync();
      ref.detached();
    }
    // A grace period this thread drives must not name the slot once it is free: a new occupant,
    // ONLINE, would pass for its driver and nobody would take it over (rcu/gp.ts leave()).
    this.rcuInstance!.gp.leave();
    this.rcuInstance!.detached();
    for (const s of this.ofKind<Srcu>(Kind.Srcu)) s.leave();
    unregisterAttached(this.attachedSlot!);
    attachedCores.delete(core);
    core.threads.leave(core.slot);
    core.rcuCall = null;
    core.slot = -1;
    attachedDomains.delete(domainKey(core.i32));
  }

  /** This thread's wrappers of the named objects of one kind (the objects detach() walks). */
  private ofKind<T>(kind: Kind): T[] {
    const out: T[] = [];
    for (const o of this.objects.values()) if (o.kind === kind) out.push(o.obj as T);
    return out;
  }

  /** Describe thread `t` (for reports). */
  describeThread(t: number): string {
    return this.core.threads.describe(t);
  }

  // ---- named objects --------------------------------------------------------------------------------

  /** @internal get-or-create a named object of `kind` and wrap it for this thread. */
  named<T>(kind: Kind, name: string, canonicalOptions: string, layout: Layout, wrap: (obj: number, pcpu: number, created: boolean) => T): T {
    if (typeof name !== 'string' || name.length === 0) throw new QuiesceError('ERR_INVALID_ARG', `Domain '${this.name}': a ${KIND_NAMES[kind]} needs a non-empty string name`);
    if (!this.core.attached) this.core.checkAttached(`${KIND_NAMES[kind]} '${name}'`);
    const optsHash = hashString(canonicalOptions);
    const cached = this.objects.get(name);
    // This thread's wrapper already agrees with the shared entry: no registry probe (it decodes
    // names out of shared memory). Any disagreement goes to the registry, which says what differs.
    if (cached && cached.kind === kind && cached.optsHash === optsHash) return cached.obj as T;
    const e = this.core.registry.getOrCreate(kind, name, optsHash, layout); // throws ERR_KIND_MISMATCH
    if (cached) return cached.obj as T;
    const obj = wrap(e.obj, e.pcpu, e.created);
    this.objects.set(name, { kind, optsHash, obj });
    return obj;
  }

  /** Sleepable RCU whose read sections may span `await`. */
  srcu(name: string, options: LockOptions = {}): Srcu {
    const cls = lockClassOption(options, name);
    return this.named(Kind.Srcu, name, `class=${cls}`, { headerBytes: SRCU_HEADER_BYTES, percpuBytes: SRCU_PERCPU_BYTES }, (obj, pcpu) =>
      new Srcu(this.core, name, cls, obj, pcpu, this.rcu),
    );
  }

  /**
   * A per-thread reference count (SPEC §4). The flags (initAtomic, initDead, allowReinit) and the
   * lockdep class are part of the identity: a later caller with different ones gets
   * ERR_KIND_MISMATCH. `onRelease` is not: it is honoured on the thread that created the ref (a
   * later call there may set it) and ignored elsewhere.
   */
  percpuRef(name: string, options: PercpuRefOptions = {}): PercpuRef {
    const cls = lockClassOption(options, name);
    for (const k of ['initAtomic', 'initDead', 'allowReinit'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean') {
        throw new QuiesceError('ERR_INVALID_ARG', `PercpuRef '${name}': options.${k} must be a boolean`);
      }
    }
    if (options.onRelease !== undefined && typeof options.onRelease !== 'function') {
      throw new QuiesceError('ERR_INVALID_ARG', `PercpuRef '${name}': options.onRelease must be a function`);
    }
    const canonical = `class=${cls};initAtomic=${!!options.initAtomic};initDead=${!!options.initDead};allowReinit=${!!options.allowReinit}`;
    const slot = this.core.slot;
    const ref = this.named(
      Kind.PercpuRef,
      name,
      canonical,
      { headerBytes: PR_HEADER_BYTES, percpuBytes: PR_PERCPU_BYTES, init: (obj) => PercpuRef.init(this.core.i32, obj, slot, this.core.gen, options) },
      (obj, pcpu) => new PercpuRef(this.core, name, cls, obj, pcpu, this.rcu, options.onRelease),
    );
    ref.setOnRelease(options.onRelease);
    return ref;
  }

  // ---- locks (locks/mutex.ts, rwsem.ts, completion.ts) ----------------------------------------------

  /** A robust sleeping lock shared by every thread and async task of the domain (SPEC §5). */
  mutex(name: string, options: LockOptions = {}): Mutex {
    const cls = lockClassOption(options, name);
    return this.named(Kind.Mutex, name, `class=${cls}`, { headerBytes: MUTEX_HEADER_BYTES, percpuBytes: 0 }, (obj) => new Mutex(this.core, name, cls, obj));
  }

  /** A write-favoring reader/writer semaphore whose read side can be handed off (SPEC §5). */
  rwsem(name: string, options: LockOptions = {}): RwSem {
    const cls = lockClassOption(options, name);
    return this.named(Kind.RwSem, name, `class=${cls}`, { headerBytes: RWSEM_HEADER_BYTES, percpuBytes: RWSEM_PERCPU_BYTES }, (obj, pcpu) => new RwSem(this.core, name, cls, obj, pcpu));
  }

  /** A completion (kernel semantics: complete() releases one waiter, completeAll() all, for good). */
  completion(name: string, options: LockOptions = {}): Completion {
    const cls = lockClassOption(options, name);
    return this.named(Kind.Completion, name, `class=${cls}`, { headerBytes: COMPLETION_HEADER_BYTES, percpuBytes: 0 }, (obj) => new Completion(this.core, name, cls, obj));
  }

  // ---- PercpuRwSem, Revocable (locks/percpu-rwsem.ts, locks/revocable.ts) ------------------------------

  /** A reader/writer lock whose readers cost a plain increment of their own thread's counter (SPEC §5). */
  percpuRwsem(name: string, options: LockOptions = {}): PercpuRwSem {
    const cls = lockClassOption(options, name);
    return this.named(Kind.PercpuRwSem, name, `class=${cls}`, { headerBytes: PRW_HEADER_BYTES, percpuBytes: PRW_PERCPU_BYTES }, (obj, pcpu) =>
      new PercpuRwSem(this.core, name, cls, obj, pcpu, this.rcu),
    );
  }

  /** Fence every access wherever it is, then destroy (seed 003, SPEC §5). */
  revocable(name: string, options: LockOptions = {}): Revocable {
    const cls = lockClassOption(options, name);
    return this.named(Kind.Revocable, name, `class=${cls}`, { headerBytes: REV_HEADER_BYTES, percpuBytes: REV_PERCPU_BYTES }, (obj, pcpu) =>
      new Revocable(this.core, name, cls, obj, pcpu, this.rcu),
    );
  }

  /**
   * Take over a read side handed off by another context or thread (ReadGuard.handoff(),
   * Access.handoff()). A token can be adopted once; a second adopt throws ERR_NOT_OWNER.
   * Narrow the result by what you handed off (`as Access` for a Revocable's token).
   */
  adopt(token: HandoffToken): AdoptedReadSide {
    if (!isHandoffToken(token)) throw new QuiesceError('ERR_BAD_HANDLE', `Domain '${this.name}': adopt(token) needs the token of a Handoff (guard.handoff().token)`);
    this.core.checkAttached(`Domain '${this.name}'`);
    const kind = ({ RwSem: Kind.RwSem, Revocable: Kind.Revocable, PercpuRwSem: Kind.PercpuRwSem } as Record<string, Kind>)[token.objectKind];
    if (kind === undefined) throw new QuiesceError('ERR_BAD_HANDLE', `Domain '${this.name}': adopt(token): unknown object kind '${String(token.objectKind)}'`);
    if (typeof token.name !== 'string' || token.name.length === 0 || typeof token.class !== 'string' || token.class.length === 0) {
      throw new QuiesceError('ERR_BAD_HANDLE', `Domain '${this.name}': adopt(token): corrupt handoff token`);
    }
    // The object a token hands off exists in its domain, with its kind and class: if it does not
    // here, the token is another domain's. Refuse it before get-or-create would make a stray object
    // (named objects are never freed) or blame a kind mismatch on this domain.
    const e = this.core.registry.find(token.name);
    if (e === null || e.kind !== kind || e.optsHash !== hashString(`class=${token.class}`)) {
      throw new QuiesceError('ERR_NOT_OWNER', `${token.objectKind} '${token.name}': this handoff token is not from domain '${this.name}'`);
    }
    const opts = { class: token.class };
    switch (token.objectKind) {
      case 'RwSem':
        return this.rwsem(token.name, opts).adoptHandoff(token);
      case 'Revocable':
        return this.revocable(token.name, opts).adoptHandoff(token);
      case 'PercpuRwSem': {
        // PercpuRwSem.adoptHandoff lives in locks/percpu-rwsem.ts (other owner): looked up so this compiles without it.
        const sem = this.percpuRwsem(token.name, opts) as unknown as { adoptHandoff?: (t: HandoffToken) => PercpuReadGuard };
        if (typeof sem.adoptHandoff !== 'function') {
          throw new QuiesceError('ERR_BAD_HANDLE', `Domain '${this.name}': adopt(token): PercpuRwSem handoff is not available in this build`);
        }
        return sem.adoptHandoff(token);
      }
      default:
        throw new QuiesceError('ERR_BAD_HANDLE', `Domain '${this.name}': adopt(token): unknown object kind '${String(token.objectKind)}'`);
    }
  }
}

/** What domain.adopt(token) returns: the read side of the object the token came from. */
export type AdoptedReadSide = ReadGuard | Access;

/** Validate `options.class` and default it to the object's name. */
export function lockClassOption(options: LockOptions | undefined, name: string): string {
  if (options === undefined) return name;
  if (options === null || typeof options !== 'object') throw new QuiesceError('ERR_INVALID_ARG', `'${name}': options must be an object`);
  if (options.class !== undefined && (typeof options.class !== 'string' || options.class.length === 0)) {
    throw new QuiesceError('ERR_INVALID_ARG', `'${name}': options.class must be a non-empty string`);
  }
  return options.class ?? name;
}
