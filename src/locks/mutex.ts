/*
 * Mutex: a robust, fair-enough sleeping lock shared by threads and async tasks (kernel/locking/mutex.c,
 * Drepper's "Futexes Are Tricky" mutex2, Go's sync.Mutex starvation mode).
 *
 * Shared state (layout.ts MUTEX_*), two Int32 words on the object's own cache line:
 *
 *   LOCK     0 when free; otherwise (ownerSlot+1) << 2 | WAITERS. Like the kernel's atomic owner word,
 *            the owner and the "somebody may sleep" flag live in ONE word, so taking the lock and
 *            naming the owner is a single compareExchange (a thread dying between the two is not a
 *            case). The owner is a THREAD: async tasks of one thread share its slot, and the per-
 *            thread wrapper remembers which guard (which task) holds it (`holder`, by the guard's
 *            number, not a reference: a guard dropped while held must stay collectable for lockdep).
 *   HANDOFF  0; or id > 0: a starving waiter asks for the lock to be handed to it; or -id: granted.
 *            id = seq << 12 | ASYNC << 11 | (slot+1), unique per waiter, so the slot of the target
 *            is known, and whether it is an async waiter (ID_ASYNC).
 *
 * lock:    fast path compareExchange(LOCK, 0, me). Slow path (a waiter): set WAITERS in the owner's
 *          word (compareExchange v -> v|WAITERS), then sleep on LOCK expecting exactly that value
 *          (futex: a change between the check and the sleep makes the wait return at once).
 * unlock:  fast path compareExchange(LOCK, me, 0) (no WAITERS). Slow path: if a waiter asked for a
 *          handoff (HANDOFF = id > 0) the unlocker claims the request with compareExchange(id -> -id)
 *          and stores LOCK = target|WAITERS: the lock never becomes free, nobody can barge in (the
 *          kernel's MUTEX_FLAG_HANDOFF). Otherwise store LOCK = 0 and wake ALL sleepers. Waking all
 *          (not one) is deliberate: a woken waitAsync whose thread is blocked elsewhere, or a waiter
 *          that is aborting, would otherwise swallow the only wake-up; with wake-all no waiter can
 *          ever stay asleep on a free lock, and an aborted waiter needs no hand-over of its wake-up.
 *
 * Starvation: an Atomics.wait sleeper on another thread runs as soon as it is woken, an async waiter
 * only when its thread's event loop gets to it, so async waiters would lose every race. Any waiter
 * that was woken and still lost becomes the (single) handoff requester: it registers HANDOFF = id
 * (compareExchange 0 -> id), re-tries once (an unlock that ran before the registration released
 * normally), then sleeps on HANDOFF. Invariant: a requester only sleeps after a re-try that saw the
 * lock held with WAITERS set, and WAITERS sends the owner's unlock through the slow path, which
 * reads HANDOFF, and reads it again AFTER it stored LOCK = 0 when it released normally (a request
 * found then is withdrawn, which wakes its requester): the requester writes HANDOFF then reads
 * LOCK, the unlocker writes LOCK then reads HANDOFF, so one of them sees the other (SC Atomics,
 * Dekker) and the registration can never be missed. A withdrawn requester simply asks again.
 *   Abort/timeout of a requester: compareExchange(HANDOFF, id -> 0). If that fails the grant has
 *   happened (-id): the waiter owns the lock and unlocks it at once (passing it on), then throws.
 *   The requester's thread dying: the next unlock sees its slot DEAD and clears the request.
 *   A sync waiter (lockSync) finding the lock granted to an async waiter of ITS OWN thread (which
 *   cannot run while the thread is blocked) takes the grant for itself (compareExchange -id -> 0);
 *   the async waiter sees its request gone and waits normally again.
 *   A grant is two steps of the granter (HANDOFF -id, then LOCK = target); whoever takes a grant
 *   waits for the second step (awaitGrantStore) and never writes LOCK itself, else the granter's
 *   late store could re-lock a mutex the target had already released.
 *   A stuck grant: an async waiter can take its grant only when its thread runs its event loop. If
 *   that thread is blocked in a quiesce wait (slot OFFLINE) the mutex would stay granted to a
 *   context that cannot run and holds nothing yet, so a thread the blocked one waits for could
 *   never get it (a deadlock no lock order explains). Any locker that finds LOCK = target, HANDOFF =
 *   -id of an ASYNC waiter and the target's slot OFFLINE takes the grant back (compareExchange
 *   -id -> 0, then LOCK target -> me), as the grace-period and ref-switch code takes over work
 *   from a thread that cannot run (threads.ts canRun). The grant is claimed by exactly one
 *   compareExchange on HANDOFF (the target's, a sync waiter's of its thread, or a taker's): the
 *   loser treats the lock as not acquired and never writes LOCK afterwards. A thread blocked in
 *   its own Atomics.wait (not a quiesce wait) is indistinguishable from a busy one: not covered.
 *
 * Robustness: if LOCK names a slot that is DEAD, any locker (or a sleeper, woken by the onThreadDeath
 * handler below or at the end of a wait slice) takes the lock over with compareExchange(v -> me) and
 * its guard reports ownerDied. A grant in flight to a live waiter is respected (the granter may have
 * died between its two steps; the target then writes LOCK itself).
 *
 * Self-deadlock: lockSync while LOCK already names this thread (held synchronously, or by an async
 * task of this thread that cannot run while the thread blocks) throws ERR_DEADLOCK.
 *
 * Memory model: the lock is taken by a successful Atomics.compareExchange on LOCK and released by an
 * Atomics store/compareExchange of LOCK (or the compareExchange on HANDOFF plus the store of LOCK
 * for a grant, which the target reads with Atomics loads of both). Atomics are sequentially
 * consistent, so every plain write made inside the critical section happens-before the next owner's
 * acquisition; no plain memory access is ever used for the lock itself.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { onThreadDeath } from '../domain/core.js';
import { Kind, MUTEX_HANDOFF, MUTEX_LOCK, ThreadState } from '../domain/layout.js';
import {
  Deadline,
  abortedError,
  blockOn,
  checkWaitOptions,
  holdEventLoop,
  releaseEventLoop,
  timeoutError,
  waitOn,
  type WaitOptions,
  type WakeResult,
} from '../domain/wait.js';
import { ld, type AcquireOptions, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import { Guard, notOwnerError } from './guard.js';

const WAITERS = 1;
const enc = (slot: number): number => (slot + 1) << 2;
const ownerOf = (v: number): number => (v >>> 2) - 1;
const ID_SLOT_MASK = 0x7ff; // slots 0..1023 (+1)
const ID_ASYNC = 0x800; // the requester is an async waiter (its grant can get stuck, see the header)
const idSlot = (id: number): number => (id & ID_SLOT_MASK) - 1;
/** Wait slice: how often a sleeper re-checks the owner's liveness on its own. */
const SLICE_MS = 200;
/** Deadline of a wait without timeoutMs (no clock read on the fast path). */
const NO_DEADLINE = new Deadline(undefined);
const NO_OPTIONS: WaitOptions = Object.freeze({});

type Got = 0 | 1 | 2; // busy | acquired | acquired from a dead owner

interface Waiter {
  id: number; // our handoff request, 0 if none
  rounds: number; // wake-ups that did not give us the lock
  sync: boolean;
}

// Only wakes sleepers (they take the lock over themselves): safe to run any number of times.
onThreadDeath(Kind.Mutex, (core, dead, _name, obj) => {
  const i32 = core.i32;
  const h = obj >> 2;
  const v = Atomics.load(i32, h + MUTEX_LOCK);
  const x = Atomics.load(i32, h + MUTEX_HANDOFF);
  if ((v !== 0 && ownerOf(v) === dead) || (x !== 0 && idSlot(Math.abs(x)) === dead)) {
    Atomics.notify(i32, h + MUTEX_LOCK);
    Atomics.notify(i32, h + MUTEX_HANDOFF);
  }
});

export class MutexGuard extends Guard {
  /** @internal */
  constructor(
    private readonly mutex: Mutex,
    /** True if the previous owner's thread died holding the mutex: the data it guards may be inconsistent. */
    readonly ownerDied: boolean,
    /** @internal */ readonly ldHeld: HeldLock | null,
    /** @internal this thread's number for the guard (Mutex.holder) */ readonly id: number,
  ) {
    super(ldHeld);
  }
  protected get what(): string {
    return describe('Mutex', this.mutex.name);
  }
  protected releaseHeld(): void {
    this.mutex.unlockGuard(this);
  }
  unlock(): void {
    this.end('unlock()');
  }
}

export class Mutex {
  private readonly i32: Int32Array;
  private readonly lockW: number;
  private readonly handoffW: number;
  private readonly me: number; // this thread's slot
  private readonly mine: number; // enc(me)
  private seq = 0;
  /** The guard (task) of this thread that owns the mutex, if this thread owns it. */
  private holder = 0;
  private guards = 0;
  /** Async lock() calls of this thread now in their wait (heldHere). */
  private asyncWaiters = 0;
  readonly lockdepClass: LockClass;
  /** lockdep acquire options, built once (no allocation per acquisition). */
  private readonly ldTry: AcquireOptions = { wait: 'none', try: true, instance: this };
  private readonly ldAsync: AcquireOptions = { wait: 'async', instance: this };
  private readonly ldSync: AcquireOptions = { wait: 'sync', instance: this };
  /** lockdep's flag through a field: cheaper than the imported live binding on the fast path. */
  private readonly ld = ld;

  /** @internal — use `domain.mutex(name)`. */
  constructor(
    private readonly core: DomainCore,
    readonly name: string,
    cls: string,
    obj: number,
  ) {
    this.i32 = core.i32;
    this.lockW = (obj >> 2) + MUTEX_LOCK;
    this.handoffW = (obj >> 2) + MUTEX_HANDOFF;
    this.me = core.slot;
    this.mine = enc(core.slot);
    this.lockdepClass = ld.classFor(cls);
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('Mutex', this.name));
  }

  /**
   * @internal Domain.detach(): how this thread holds the mutex ('held'), or null. An async lock()
   * still waiting counts too: it may have asked for a handoff (HANDOFF names this slot) or take the
   * lock later, and a FREE slot's grant or hold is never taken over (only a DEAD thread's).
   */
  heldHere(): string | null {
    const v = Atomics.load(this.i32, this.lockW);
    if (v !== 0 && ownerOf(v) === this.me) return 'held';
    return this.asyncWaiters > 0 ? 'waited for by a pending async lock()' : null;
  }

  /** True while some context of some thread holds the mutex (a dead owner's hold included). */
  isLocked(): boolean {
    return Atomics.load(this.i32, this.lockW) !== 0;
  }

  /** @internal for tests and diagnostics: the raw shared words. */
  debugState(): { owner: number; waitersFlag: boolean; handoff: number } {
    const v = Atomics.load(this.i32, this.lockW);
    return { owner: v === 0 ? -1 : ownerOf(v), waitersFlag: (v & WAITERS) !== 0, handoff: Atomics.load(this.i32, this.handoffW) };
  }

  // ---- the lock word ------------------------------------------------------------------------------

  private isDead(t: number): boolean {
    return t >= 0 && t < this.core.g.maxThreads && this.core.threads.state(t) === ThreadState.DEAD;
  }

  /** One acquisition attempt (with robust take-over); `setWaiters` marks the owner's word. */
  private tryAcquire(setWaiters: boolean): Got {
    const { i32, lockW } = this;
    for (;;) {
      const v = Atomics.load(i32, lockW);
      if (v === 0) {
        if (Atomics.compareExchange(i32, lockW, 0, setWaiters ? this.mine | WAITERS : this.mine) === 0) return 1;
        continue;
      }
      const owner = ownerOf(v);
      if (owner !== this.me && this.isDead(owner)) {
        const x = Atomics.load(i32, this.handoffW);
        if (x < 0 && !this.isDead(idSlot(-x))) return 0; // a grant is on its way to a live waiter
        if (x < 0) Atomics.compareExchange(i32, this.handoffW, x, 0);
        // WAITERS: others may sleep on the dead owner's word; our unlock must wake them.
        if (Atomics.compareExchange(i32, lockW, v, this.mine | WAITERS) === v) return 2;
        continue;
      }
      if (owner !== this.me && (v & WAITERS) !== 0) {
        const x = Atomics.load(i32, this.handoffW);
        if (x < 0 && (-x & ID_ASYNC) !== 0 && idSlot(-x) === owner && this.core.threads.blockedInWait(owner)) {
          // A stuck grant (header): take it back, then the lock from its target.
          if (Atomics.compareExchange(i32, this.handoffW, x, 0) === x) {
            Atomics.notify(i32, this.handoffW);
            if (Atomics.compareExchange(i32, lockW, v, this.mine | WAITERS) === v) return 1;
          }
          continue;
        }
      }
      if (setWaiters && (v & WAITERS) === 0 && Atomics.compareExchange(i32, lockW, v, v | WAITERS) !== v) continue;
      return 0;
    }
  }

  /** Physically release (the caller owns the lock): hand off to a requester, or free and wake all. */
  private release(): void {
    const { i32, lockW, handoffW } = this;
    if (Atomics.compareExchange(i32, lockW, this.mine, 0) === this.mine) return;
    for (;;) {
      const x = Atomics.load(i32, handoffW);
      if (x <= 0) break;
      const t = idSlot(x);
      if (this.isDead(t)) {
        Atomics.compareExchange(i32, handoffW, x, 0);
        continue;
      }
      if (Atomics.compareExchange(i32, handoffW, x, -x) === x) {
        Atomics.store(i32, lockW, enc(t) | WAITERS);
        Atomics.notify(i32, handoffW);
        Atomics.notify(i32, lockW); // a sync waiter of t's thread may take a grant meant for an async waiter there
        return;
      }
    }
    Atomics.store(i32, lockW, 0);
    Atomics.notify(i32, lockW);
    // A request registered after our look at HANDOFF, whose re-try still saw the lock held, sleeps
    // on HANDOFF: withdraw it (the change wakes it; it re-tries and finds the lock free).
    const x = Atomics.load(i32, handoffW);
    if (x > 0 && Atomics.compareExchange(i32, handoffW, x, 0) === x) Atomics.notify(i32, handoffW);
  }

  /**
   * We were granted the lock (HANDOFF = -ourId). The granter makes two steps, compareExchange on
   * HANDOFF then store LOCK = us; we may see the first before the second. Wait for the second
   * (it is the very next statement of the granter) instead of writing LOCK ourselves: a write of
   * ours could land before the granter's, we would unlock, and the granter's late store would then
   * hand the free lock back to us for ever. If the granter died between its two steps, its slot is
   * DEAD and we take the lock over from it. `id`: the grant (-id) is not claimed yet; false once it
   * is gone from HANDOFF (taken back as stuck: it is not ours). 0: the caller has claimed it.
   */
  private awaitGrantStore(id: number): boolean {
    const { i32, lockW } = this;
    for (;;) {
      const v = Atomics.load(i32, lockW);
      if (v !== 0 && ownerOf(v) === this.me) return true;
      if (v !== 0 && this.isDead(ownerOf(v)) && Atomics.compareExchange(i32, lockW, v, this.mine | WAITERS) === v) return true;
      if (id !== 0 && Atomics.load(i32, this.handoffW) !== -id) return false;
    }
  }

  /** A grant (-x) to an async waiter of this thread, which cannot run while this thread blocks: take it. */
  private stealLocalGrant(w: Waiter | null): boolean {
    const x = Atomics.load(this.i32, this.handoffW);
    if (x < 0 && idSlot(-x) === this.me && (w === null || -x !== w.id)) {
      if (Atomics.compareExchange(this.i32, this.handoffW, x, 0) === x) {
        this.awaitGrantStore(0); // the grant was for this thread: the granter writes LOCK = us
        return true;
      }
    }
    return false;
  }

  /** One step of a waiter: returns what it got. Registers/keeps/withdraws its handoff request. */
  private attempt(w: Waiter): Got {
    const { i32, handoffW } = this;
    if (w.id !== 0) {
      const x = Atomics.load(i32, handoffW);
      if (x === -w.id) {
        // Claimed by our compareExchange only: a taker may have taken it back (stuck grant).
        const ours = this.awaitGrantStore(w.id) && Atomics.compareExchange(i32, handoffW, x, 0) === x;
        w.id = 0;
        if (ours) return 1;
      }
      if (x !== w.id) w.id = 0; // taken back by a sync waiter of this thread: wait normally
    }
    if (w.sync && this.stealLocalGrant(w)) return 1;
    let r = this.tryAcquire(true);
    if (r === 0 && w.id === 0 && w.rounds >= (w.sync ? 3 : 1)) {
      const id = ((++this.seq & 0x7ffff) << 12) | (w.sync ? 0 : ID_ASYNC) | (this.me + 1);
      if (Atomics.compareExchange(i32, handoffW, 0, id) === 0) {
        w.id = id;
        r = this.tryAcquire(true); // an unlock before the registration released normally
      }
    }
    if (r !== 0 && w.id !== 0) {
      Atomics.compareExchange(i32, handoffW, w.id, 0); // cannot have been granted: we took the lock otherwise
      w.id = 0;
    }
    return r;
  }

  /** A waiter gives up (timeout/abort/error): withdraw its request; if it was granted meanwhile, pass the lock on. */
  private cancel(w: Waiter): void {
    if (w.id === 0) return;
    const id = w.id;
    w.id = 0;
    if (Atomics.compareExchange(this.i32, this.handoffW, id, 0) === id) return;
    if (Atomics.load(this.i32, this.handoffW) === -id && this.awaitGrantStore(id) && Atomics.compareExchange(this.i32, this.handoffW, -id, 0) === -id) {
      this.release();
    }
  }

  /** Where a waiter sleeps and what value it expects there; null: re-try at once. */
  private sleepOn(w: Waiter): [number, number] | null {
    if (w.id !== 0) return [this.handoffW, w.id];
    const v = Atomics.load(this.i32, this.lockW);
    return v === 0 || (v & WAITERS) === 0 ? null : [this.lockW, v];
  }

  private own(got: Got, h: HeldLock | null): MutexGuard {
    const g = new MutexGuard(this, got === 2, h, ++this.guards);
    this.holder = g.id;
    return g;
  }

  /** @internal MutexGuard.unlock(). */
  unlockGuard(g: MutexGuard): void {
    const v = Atomics.load(this.i32, this.lockW);
    if (this.holder !== g.id || v === 0 || ownerOf(v) !== this.me) {
      throw notOwnerError(this.what, 'unlock() by a guard that does not hold it (the lock was taken over)');
    }
    if (this.ld.on) ld.release(g.ldHeld);
    this.holder = 0;
    this.release();
  }

  // ---- public API ---------------------------------------------------------------------------------

  /** Take the mutex without waiting; null if it is held (a dead owner's mutex is taken over: ownerDied). */
  tryLock(): MutexGuard | null {
    this.core.checkAttached(this.what);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldTry) : null;
    const got = this.tryAcquire(false);
    if (got === 0) {
      ld.abandon(h);
      return null;
    }
    return this.own(got, h);
  }

  /** Wait (without blocking the thread) for the mutex. */
  async lock(o?: WaitOptions): Promise<MutexGuard> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'lock()', signal);
    const deadline = timeoutMs === undefined ? NO_DEADLINE : new Deadline(timeoutMs);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldAsync) : null; // before waiting
    let got: Got;
    try {
      got = this.tryAcquire(false);
      if (got === 0) got = await this.waitAsync(deadline, signal, timeoutMs);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return this.own(got, h);
  }

  private async waitAsync(deadline: Deadline, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<Got> {
    const w: Waiter = { id: 0, rounds: 0, sync: false };
    const abort = (): Error => abortedError(this.what, 'lock()', signal);
    holdEventLoop();
    this.asyncWaiters++;
    try {
      for (;;) {
        const got = this.attempt(w);
        if (got !== 0) return got;
        const s = this.sleepOn(w);
        if (s === null) continue;
        const r: WakeResult = await waitOn(this.i32, s[0], s[1], deadline, signal, abort, SLICE_MS);
        if (r === 'timed-out') throw timeoutError(this.what, 'lock()', timeoutMs);
        w.rounds++;
      }
    } catch (e) {
      this.cancel(w);
      throw e;
    } finally {
      this.asyncWaiters--;
      releaseEventLoop();
    }
  }

  /**
   * Block the thread until the mutex is ours. Throws ERR_DEADLOCK if this thread already holds it
   * (synchronously, or in a suspended async task): blocking could never end.
   */
  lockSync(o?: WaitOptions): MutexGuard {
    const { signal, timeoutMs } = o === undefined ? NO_OPTIONS : checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'lockSync()', signal);
    const h = this.ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldSync) : null;
    let got = this.tryAcquire(false); // the uncontended case ends here
    if (got !== 0) return this.own(got, h);
    const w: Waiter = { id: 0, rounds: 0, sync: true };
    try {
      this.checkSelfDeadlock();
      if (this.stealLocalGrant(null)) got = 1;
      const deadline = timeoutMs === undefined ? NO_DEADLINE : new Deadline(timeoutMs);
      while (got === 0) {
        got = this.attempt(w);
        if (got !== 0) break;
        const s = this.sleepOn(w);
        if (s === null) continue;
        const r = blockOn(this.i32, s[0], s[1], deadline, SLICE_MS);
        if (signal?.aborted) throw abortedError(this.what, 'lockSync()', signal);
        if (r === 'timed-out') throw timeoutError(this.what, 'lockSync()', timeoutMs);
        w.rounds++;
      }
      return this.own(got, h);
    } catch (e) {
      this.cancel(w);
      ld.abandon(h);
      throw e;
    }
  }

  /** lockSync() found the mutex busy: if THIS thread holds it, blocking could never end. */
  private checkSelfDeadlock(): void {
    const v = Atomics.load(this.i32, this.lockW);
    if (v === 0 || ownerOf(v) !== this.me) return;
    const x = Atomics.load(this.i32, this.handoffW);
    if (x < 0 && idSlot(-x) === this.me) return; // granted to an async waiter here: stealLocalGrant takes it
    const who = this.holder !== 0 ? 'this thread already holds it (a suspended async task or an earlier lockSync)' : 'this thread already holds it';
    throw new QuiesceError('ERR_DEADLOCK', `${this.what}: lockSync() would wait forever: ${who}`);
  }

  /** Run `fn` holding the mutex; unlock however it ends. */
  async withLock<T>(fn: () => T | Promise<T>, o?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: withLock(fn) needs a function`);
    const g = await this.lock(o);
    try {
      return await fn();
    } finally {
      g.unlock();
    }
  }
}
