/*
 * Srcu: sleepable RCU, whose read sections may span `await` (include/linux/srcu.h).
 *
 * Read side: each thread has, per Srcu, two lock counters and two unlock counters in its own
 * per-thread area, one pair per index. readLock() reads the current index ((IDX >> 1) & 1, see
 * "The flip" below), increments this thread's lock[idx] and returns idx; readUnlock(idx)
 * increments unlock[idx]. A reader holds
 * the index it started with even after the grace period flips it. Under lockdep a section is a
 * recursive-read hold of the class, kept per index; readUnlock(idx) ends the one the calling async
 * task holds (several tasks of a thread may be inside), not merely the thread's newest.
 * After domain.detach() readLock() throws ERR_NOT_ATTACHED (the counters it would write belong
 * to a freed slot, perhaps already another thread's). detach() itself refuses (ERR_RCU_MISUSE)
 * while this thread holds a section: the counters of a FREE slot stay in every sum, so a section
 * left open by a detached thread that exits would hold grace periods up for good.
 *
 * Grace period (batched with rcu_seq exactly like RCU, see rcu/seq.ts; one driver at a time, but
 * as in rcu/gp.ts a waiter takes the GP over from a driver that resigned or whose thread is not
 * ONLINE, i.e. dead or blocked in a quiesce wait, so a second driver may run the same GP; a
 * thread that detach()es resigns first, see leave()):
 *   1. flip IDX (flip(), below): new readers use the other index;
 *   2. wait for an RCU grace period of the domain: every thread passes a quiescent state, so every
 *      reader that read the old index has also finished incrementing lock[old] (the load of IDX
 *      and the increment happen in one synchronous run), and every later reader sees the flip;
 *   3. wait until sum(lock[old]) == sum(unlock[old]) over every thread that is not dead.
 * With step 2 no counter of the old index can grow after step 3 starts, so one scan suffices
 * (the kernel, lacking step 2, scans twice and relies on smp_mb pairs).
 * The driver never counts its own thread out: step 3 sums the caller's own counters too (a
 * synchronize()/call() inside this Srcu's own section waits for it), and step 2's RCU grace period
 * waits for the caller's own RCU read section when synchronize()/call() is called inside one
 * (rcu/gp.ts header); synchronizeSync() there throws ERR_RCU_MISUSE instead.
 *
 * The flip: IDX holds gp+1 of the last grace period gp that flipped (0 before the first), so
 * readers use (IDX >> 1) & 1 and grace period gp drains oldIdx(gp) = (gp >> 1) & 1, the index
 * readers used before its flip, whatever IDX says when a driver looks. flip(gp) raises IDX to
 * gp+1 unless it is there already (a compareExchange loop, wrap-safe compare): idempotent, and
 * it never moves IDX back. EVERY driver of gp flips before its step 2: the winner of claim()'s
 * even->odd CAS of GP_SEQ and each driver that takes gp over. A takeover must not rely on the
 * winner's flip: the winner may be terminate()d between its CAS and its flip (its thread is then
 * DEAD, so a waiter takes gp over); step 3 would then drain the index of the previous grace
 * period, which no reader uses, and end gp under the readers it exists for.
 *
 * Two drivers of one GP are harmless: each flips IDX to the same gp+1 (so the index being drained
 * cannot change while the GP is in progress), both then only wait (steps 2 and 3 read, they
 * never undo anything), and finish() is a compareExchange of GP_SEQ from gp to gp+1, so exactly
 * one ends the GP. A stale driver's flip(gp) is a no-op (IDX is at gp+1 or later). As in
 * rcu/gp.ts, a stale driver (its GP ended by another) leaves for the outer loop, without
 * finish(), at the first wake-up after GP_SEQ moved past gp, in step 2 (the RCU engine's reach()
 * is given that check) as in step 3; finish() therefore also bumps and notifies UNLOCK_EVENTS
 * (step 3 sleeps there) and the RCU engine's QS_EVENTS (step 2 may sleep there). A timeout
 * throws only if the snapshot is not done.
 *
 * Memory model: lock[idx] is written with a plain increment by its owner only; the RCU grace
 * period of step 2 makes it visible (its ack store / driver load pair, rcu/gp.ts). unlock[idx] is
 * written with Atomics.add (a release) and read with Atomics.load by the driver: everything a
 * reader did inside its section happens-before the driver sees the sums match. readUnlock then
 * reads SRCU_WAITERS and notifies the driver; the driver stores WAITERS before its scan; both are
 * SC Atomics, so either the reader sees WAITERS and wakes the driver, or the driver's scan sees
 * the unlock (Dekker). Dead threads' counters are left out of the sums: their sections never end.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { onThreadDeath } from '../domain/core.js';
import {
  Kind,
  SRCU_DRIVER,
  SRCU_GP_SEQ,
  SRCU_IDX,
  SRCU_PC_CB_DONE,
  SRCU_PC_CB_QUEUED,
  SRCU_PC_LOCK,
  SRCU_PC_UNLOCK,
  SRCU_UNLOCK_EVENTS,
  SRCU_WAITERS,
  ThreadState,
  percpuWord,
} from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, runAsync, runSync, timeoutError, type WaitOptions, type WaitProgram } from '../domain/wait.js';
import { ld, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import { CallbackQueue } from './callbacks.js';
import type { Rcu } from './rcu.js';
import { done, inProgress, snap } from './seq.js';

/** Bump and notify UNLOCK_EVENTS of the Srcu whose header is at word h: sleepers re-scan. */
function wakeUnlockWaiters(i32: Int32Array, h: number): void {
  Atomics.add(i32, h + SRCU_UNLOCK_EVENTS, 1);
  Atomics.notify(i32, h + SRCU_UNLOCK_EVENTS);
}

// Only wakes drivers to re-scan: safe to run any number of times.
onThreadDeath(Kind.Srcu, (core, _slot, _name, obj) => wakeUnlockWaiters(core.i32, obj >> 2));

export class Srcu {
  private readonly i32: Int32Array;
  private readonly h: number; // word index of the shared header
  private readonly myLock: number; // word index of this thread's lock[0]
  private readonly myUnlock: number; // word index of this thread's unlock[0]
  private readonly callbacks: CallbackQueue;
  private readonly held = new Map<number, HeldLock[]>();
  readonly lockdepClass: LockClass;

  /** @internal — use `domain.srcu(name)`. */
  constructor(
    private readonly core: DomainCore,
    readonly name: string,
    cls: string,
    obj: number,
    private readonly pcpu: number,
    private readonly rcu: Rcu,
  ) {
    this.i32 = core.i32;
    this.h = obj >> 2;
    this.myLock = percpuWord(core.g, core.slot, pcpu) + SRCU_PC_LOCK;
    this.myUnlock = percpuWord(core.g, core.slot, pcpu) + SRCU_PC_UNLOCK;
    this.lockdepClass = ld.classFor(cls);
    this.callbacks = new CallbackQueue(
      core,
      { snap: () => snap(Atomics.load(this.i32, this.h + SRCU_GP_SEQ)), done: (s) => this.gpDone(s), waitFor: (s) => this.waitFor(s, new Deadline(undefined), undefined, 'call') },
      (t) => percpuWord(core.g, t, pcpu) + SRCU_PC_CB_QUEUED,
      (t) => percpuWord(core.g, t, pcpu) + SRCU_PC_CB_DONE,
      (fn) => fn(),
    );
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('Srcu', this.name));
  }

  // ---- read side --------------------------------------------------------------------------------

  /** Enter a read section; pass the returned index to readUnlock(). May be held across `await`. */
  readLock(): number {
    // Detached: the slot is free (no grace period waits for this thread) or another thread's.
    if (this.core.slot < 0) this.core.checkAttached(this.what);
    const idx = (Atomics.load(this.i32, this.h + SRCU_IDX) >> 1) & 1; // readerIdx (header)
    this.i32[this.myLock + idx]!++;
    if (ld.on) {
      const h = ld.acquire(this.lockdepClass, 'recursive-read', { wait: 'none', instance: this });
      let a = this.held.get(idx);
      if (!a) this.held.set(idx, (a = []));
      a.push(h);
    }
    return idx;
  }

  readUnlock(index: number): void {
    if (index !== 0 && index !== 1) throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: readUnlock(index) needs the index readLock() returned`);
    const i32 = this.i32;
    // Unbalanced on this thread? (Sections begin and end on one thread: async tasks do not migrate.)
    if (((i32[this.myLock + index]! - Atomics.load(i32, this.myUnlock + index)) | 0) <= 0) {
      throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: readUnlock(${index}) without a matching readLock() on this thread`);
    }
    // The section of the calling task (another task of this thread may be inside one too).
    if (ld.on) ld.releaseOwn(this.held.get(index));
    Atomics.add(i32, this.myUnlock + index, 1);
    if (Atomics.load(i32, this.h + SRCU_WAITERS) > 0) wakeUnlockWaiters(i32, this.h);
  }

  /** Run `fn` (sync or async) inside a read section. */
  async read<T>(fn: () => Promise<T> | T): Promise<T> {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: read(fn): fn must be a function`);
    const idx = this.readLock();
    const h = ld.on ? (this.held.get(idx)?.at(-1) ?? null) : null;
    // inside() runs fn's synchronous part and sets up its own await now, on this context, so fn's
    // task and inside()'s continuation (which ends the section) hold h. From here the caller is
    // not inside (lockdep hooks.ts leave). readUnlock(idx) ends the hold of idx its context
    // holds, else the newest: a continuation created after leave() holds none, and would end
    // another task's section of this thread instead of its own.
    const p = this.inside(fn, idx);
    ld.leave(h);
    return p;
  }

  private async inside<T>(fn: () => Promise<T> | T, idx: number): Promise<T> {
    try {
      return await fn();
    } finally {
      this.readUnlock(idx);
    }
  }

  // ---- grace periods ------------------------------------------------------------------------------

  private gpDone(s: number): boolean {
    return done(Atomics.load(this.i32, this.h + SRCU_GP_SEQ), s);
  }

  /** Readers still inside sections that use index `idx`, over every live thread. */
  private readers(idx: number): number {
    const { core, i32 } = this;
    let sum = 0;
    for (let t = 0; t < core.g.maxThreads; t++) {
      const st = core.threads.state(t);
      if (st === ThreadState.DEAD) continue;
      const base = percpuWord(core.g, t, this.pcpu);
      sum = (sum + i32[base + SRCU_PC_LOCK + idx]! - Atomics.load(i32, base + SRCU_PC_UNLOCK + idx)) | 0;
    }
    return sum;
  }

  private claim(): number {
    const i32 = this.i32;
    const w = this.h + SRCU_GP_SEQ;
    const seq = Atomics.load(i32, w);
    const me = this.core.slot + 1;
    if (!inProgress(seq)) {
      if (Atomics.compareExchange(i32, w, seq, (seq + 1) | 0) !== seq) return -1;
      Atomics.store(i32, this.h + SRCU_DRIVER, me);
      this.flip((seq + 1) | 0); // step 1
      return (seq + 1) | 0;
    }
    const d = Atomics.load(i32, this.h + SRCU_DRIVER);
    // Take over unless the driver's thread is ONLINE (so able to run it): see rcu/gp.ts claim().
    if (d !== 0 && d !== me && this.core.threads.canRun(d - 1)) return -1;
    if (Atomics.compareExchange(i32, this.h + SRCU_DRIVER, d, me) !== d) return -1;
    if (Atomics.load(i32, w) !== seq) {
      Atomics.compareExchange(i32, this.h + SRCU_DRIVER, me, 0);
      return -1;
    }
    this.flip(seq); // step 1, in case the driver we take over from never got there (header)
    return seq;
  }

  /** Step 1 of grace period `gp`: raise IDX to gp+1 unless it is there already (header, "The flip"). */
  private flip(gp: number): void {
    const i32 = this.i32;
    const want = (gp + 1) | 0;
    for (;;) {
      const cur = Atomics.load(i32, this.h + SRCU_IDX);
      if (((cur - want) | 0) >= 0) return;
      if (Atomics.compareExchange(i32, this.h + SRCU_IDX, cur, want) === cur) return;
    }
  }

  private finish(gp: number): void {
    const i32 = this.i32;
    Atomics.compareExchange(i32, this.h + SRCU_DRIVER, this.core.slot + 1, 0);
    Atomics.compareExchange(i32, this.h + SRCU_GP_SEQ, gp, (gp + 1) | 0);
    Atomics.notify(i32, this.h + SRCU_GP_SEQ);
    // Wake a stale driver of gp (header) wherever it sleeps: in step 3 on UNLOCK_EVENTS, in step 2
    // on the RCU engine's QS_EVENTS. Both adds follow the GP_SEQ store (see GpEngine.kick()).
    wakeUnlockWaiters(i32, this.h);
    this.rcu.gp.kick();
  }

  private resign(): void {
    if (Atomics.compareExchange(this.i32, this.h + SRCU_DRIVER, this.core.slot + 1, 0) === this.core.slot + 1) {
      Atomics.notify(this.i32, this.h + SRCU_GP_SEQ);
    }
  }

  /**
   * @internal domain.detach(): this thread's slot is about to be freed: stop naming it as the
   * driver, or a new occupant of the slot would pass for it and nobody would take the GP over
   * (rcu/gp.ts leave()); and leave its callback counters even (rcu/callbacks.ts leave()).
   */
  leave(): void {
    this.resign();
    this.callbacks.leave();
  }

  /** The index drained by grace period `gp` (odd): the one readers used before its flip (header). */
  private oldIdx(gp: number): number {
    return (gp >> 1) & 1;
  }

  /** Wait until SRCU_GP_SEQ reaches `s`, driving SRCU grace periods (a wait program, see domain/wait.ts). */
  private *reach(s: number, op: string, timeoutMs: number | undefined): WaitProgram<void> {
    const i32 = this.i32;
    for (;;) {
      const seq = Atomics.load(i32, this.h + SRCU_GP_SEQ);
      if (done(seq, s)) return;
      const gp = this.claim();
      if (gp === -1) {
        if ((yield { index: this.h + SRCU_GP_SEQ, value: seq, sliceMs: 100 }) === 'timed-out' && !this.gpDone(s)) throw timeoutError(this.what, op, timeoutMs);
        continue;
      }
      const moved = (): boolean => Atomics.load(i32, this.h + SRCU_GP_SEQ) !== gp; // another driver ended gp
      // Every way out but finish() leaves gp undriven by us (we gave up, or another driver ended
      // it: stale), and then SRCU_DRIVER must not go on naming this thread: resign (rcu/gp.ts).
      let ended = false;
      try {
        // step 2: an RCU grace period (left as soon as gp has ended)
        if (!(yield* this.rcu.gp.reach(this.rcu.gp.snap(), false, moved))) {
          if (this.gpDone(s)) return; // stale (a done snapshot means gp has ended too)
          if (!moved()) throw timeoutError(this.what, op, timeoutMs);
          continue; // stale: the outer loop re-checks s
        }
        // step 3: drain the old index
        const old = this.oldIdx(gp);
        let drained = false;
        Atomics.add(i32, this.h + SRCU_WAITERS, 1);
        try {
          for (;;) {
            const ev = Atomics.load(i32, this.h + SRCU_UNLOCK_EVENTS); // before the check: see finish()
            if (moved()) break; // stale
            if ((drained = this.readers(old) === 0)) break;
            if ((yield { index: this.h + SRCU_UNLOCK_EVENTS, value: ev }) === 'timed-out') {
              if (this.gpDone(s)) return; // stale, as above
              if (!moved() && (drained = this.readers(old) === 0)) break;
              throw timeoutError(this.what, op, timeoutMs);
            }
          }
        } finally {
          Atomics.sub(i32, this.h + SRCU_WAITERS, 1);
        }
        if (drained) {
          this.finish(gp);
          ended = true;
        }
      } finally {
        if (!ended) this.resign();
      }
    }
  }

  private async waitFor(s: number, deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs?: number): Promise<void> {
    // Aborted already: reject before driving anything, as synchronizeSync() throws (SPEC §2).
    if (signal?.aborted) throw abortedError(this.what, op, signal);
    return runAsync(this.i32, this.reach(s, op, timeoutMs), deadline, signal, () => abortedError(this.what, op, signal));
  }

  private beforeWait(kind: 'sync' | 'async', op: string): void {
    this.core.checkAttached(this.what);
    if (ld.on) ld.waitFor(this.lockdepClass, kind, `${this.what}.${op}`, this);
  }

  /** Wait until every read section that began before this call has ended. */
  async synchronize(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.beforeWait('async', 'synchronize()');
    await this.waitFor(snap(Atomics.load(this.i32, this.h + SRCU_GP_SEQ)), new Deadline(timeoutMs), signal, 'synchronize()', timeoutMs);
  }

  /**
   * Blocking synchronize(). A read section of this Srcu held by this thread (in a suspended async
   * task) could never end while the thread blocks: that throws ERR_DEADLOCK instead of hanging.
   */
  synchronizeSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    if (signal?.aborted) throw abortedError(this.what, 'synchronizeSync()', signal);
    if (this.rcu.inReadSection) throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: synchronizeSync() inside an RCU read section`);
    this.checkNotHeld('synchronizeSync()');
    this.beforeWait('sync', 'synchronizeSync()');
    runSync(this.i32, this.reach(snap(Atomics.load(this.i32, this.h + SRCU_GP_SEQ)), 'synchronizeSync()', timeoutMs), new Deadline(timeoutMs));
  }

  /** Run `fn` on this thread after an SRCU grace period (call_srcu). */
  call(fn: () => void): void {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: call(fn) needs a function`);
    this.core.checkAttached(this.what);
    this.callbacks.push(fn);
  }

  /** @internal Callbacks queued on this thread that have not run yet. */
  get pendingCallbacks(): number {
    return this.callbacks.pending;
  }

  /** @internal True if this thread holds a read section of this Srcu (in any of its async tasks). */
  holdsReadSection(): boolean {
    if (this.core.slot < 0) return false;
    for (const idx of [0, 1]) {
      if (((this.i32[this.myLock + idx]! - Atomics.load(this.i32, this.myUnlock + idx)) | 0) > 0) return true;
    }
    return false;
  }

  /** @internal ERR_DEADLOCK if this thread holds a read section of this Srcu (a blocking wait would never end). */
  checkNotHeld(op: string): void {
    if (this.holdsReadSection()) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: ${op} while this thread holds a read section of it (it could never end)`);
    }
  }

  /**
   * @internal domain.detach(): run this thread's pending callbacks now, blocking (offline) for
   * their grace periods (rcu/callbacks.ts header). The caller has checked checkNotHeld().
   */
  drainCallbacksSync(): void {
    if (this.callbacks.pending === 0) return;
    this.beforeWait('sync', 'detach() (pending call() callbacks)');
    this.callbacks.drainSync((s) => runSync(this.i32, this.reach(s, 'detach()', undefined), new Deadline(undefined)));
  }

  /** Wait until every call() queued before this, on any thread, has run (srcu_barrier). */
  async barrier(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'barrier()', signal);
    const ok = await this.callbacks.barrier(new Deadline(timeoutMs), signal, () => abortedError(this.what, 'barrier()', signal));
    if (!ok) throw timeoutError(this.what, 'barrier()', timeoutMs);
  }
}
