/*
 * The grace-period engine of a domain: QSBR over event-loop turns (liburcu's urcu-qsbr flavour).
 *
 * In JS a thread is never preempted inside synchronous code, so every synchronous run is an
 * "RCU-sched" read-side critical section and every return to the event loop is a quiescent state.
 * A grace period therefore needs, from each thread that is ONLINE when it starts, one quiescent
 * state reported after it starts:
 *
 *   driver                                   each online thread t (rcu/qs.ts)
 *   ------                                   --------------------------------
 *   CAS GP_SEQ even -> odd (gp)              waitAsync(T_QS_REQ[t]) resolves at its next turn
 *   for each ONLINE t: store T_QS_REQ[t]=gp  if not inside a read section:
 *                      notify T_QS_REQ[t]       store T_QS_ACK[t] = gp
 *   until every t has ACK>=gp or is not         add QS_EVENTS; notify QS_EVENTS
 *     ONLINE: wait on QS_EVENTS
 *   CAS GP_SEQ gp -> gp+1; notify GP_SEQ
 *   add QS_EVENTS; notify QS_EVENTS (wakes stale drivers, below)
 *
 * Threads OFFLINE (parked in a quiesce wait), STARTING, FREE or DEAD are in an extended quiescent
 * state and are never waited for; a thread that dies mid-GP is marked DEAD by the thread that
 * watched it, which bumps QS_EVENTS, so the driver re-checks at once.
 *
 * The driver's own thread: a driver step runs synchronously on it, so when the step finds this
 * thread outside any read section (nesting 0), every section it had open when the GP began has
 * closed: it counts as quiescent without an ack. But a step may run INSIDE a read section of its
 * own thread: getState(), call() and srcu.synchronize()/call() are legal in rcu.read() (as
 * get_state_synchronize_rcu()/call_rcu() are under rcu_read_lock()) and drive at once,
 * synchronously, and so may a step that resumes while a section spans a turn (misuse). Then the
 * own thread is treated like any other online thread: it is asked (T_QS_REQ) and waited for
 * (T_QS_ACK), which rcu.ts stores only once the section has closed. A blocking wait (waitSync)
 * inside a read section could never see that ack (the thread stays online in a reader, see
 * domain/thread.ts) and throws ERR_RCU_MISUSE instead; async steps simply yield.
 *
 * Memory model: an updater unpublishes, then calls synchronize(). Its Atomics CAS of GP_SEQ
 * precedes its store of T_QS_REQ[t]; thread t's waitAsync wake-up observes that store, so t's
 * later reads see the unpublish. Thread t's Atomics.store of T_QS_ACK[t] follows (in t's program
 * order) every read section it ran before, and the driver's Atomics.load of T_QS_ACK[t] observes
 * it: everything those readers did happens-before the driver ends the GP, and the GP_SEQ store /
 * load pair carries that on to every waiter, which may then free the old data.
 *
 * Wrap-around: GP_SEQ is an Int32 that wraps; snapshots are compared with seq.ts done(), whose
 * wrap-safe compare holds for values less than 2^30 grace periods apart. A thread's T_QS_ACK and
 * T_QS_REQ words are not bounded so: an OFFLINE thread or a FREE slot is never asked, so its words
 * can lag by any number of grace periods, and a lag past 2^30 compares as AHEAD of gp (the thread
 * would count as quiescent unasked, inside a read section it entered on coming back ONLINE).
 * allQuiescent() compares them to gp exactly instead: while gp is in progress no later GP has
 * started, so an ack or request that covers gp can only be gp itself.
 *
 * Batching: callers snapshot the sequence (seq.ts) and wait for GP_SEQ to reach it; one caller
 * becomes the driver (CAS), the rest sleep on GP_SEQ (in slices of 100 ms, re-checking the driver
 * each time). A driver that gives up (timeout/abort) stores GP_DRIVER=0 and any waiter (or the next
 * caller) takes over the same grace period; so does a thread that detach()es while it drives one
 * (leave(): its freed slot may be taken by a new thread, ONLINE, which would pass for the driver
 * while the old async driver runs on as an anonymous one, id 0, or not at all once its thread
 * exits). So does a waiter that finds the driver's thread not
 * ONLINE: DEAD (its driver will never run), or OFFLINE, i.e. blocked in one of quiesce's own waits
 * (SPEC §3: such a thread never holds a grace period up; an async driver on it cannot run until it
 * wakes, and the thread that would wake it may be the one waiting for the grace period); and so
 * does a blocking waiter on the driver's own thread (its async driver cannot run either).
 *
 * Two drivers of one grace period are harmless, which is what makes those takeovers safe without
 * stopping the old driver: each only stores requests (idempotent: the newest value wins, and
 * allQuiescent re-requests whatever a stale store lowered) and reads acks; ending the GP is
 * finish()'s compareExchange of GP_SEQ from gp to gp+1, so exactly one driver ends it and counts
 * it. A stale driver (one whose GP another driver ended, e.g. while its thread was OFFLINE) must
 * notice, or it would wait for acks of gp that busy threads no longer owe, and time out although
 * its snapshot is done: every wake-up of its wait for acks first re-checks GP_SEQ and, once it
 * moved past gp, leaves for the outer loop (which re-checks the snapshot) without finish(), and
 * resigns: GP_DRIVER may still name it (the driver that ended gp could not clear another's id),
 * and a live, idle thread named there would keep every waiter from taking over the NEXT grace
 * period, should that one's winner die between its claim's CAS and its store of GP_DRIVER. It
 * sleeps on QS_EVENTS, so finish() also bumps and notifies QS_EVENTS (the bump follows the GP_SEQ
 * CAS and the driver loads QS_EVENTS before its GP_SEQ check, so that wake-up cannot be missed).
 * On timeout a driver reports failure only if its snapshot is really not done. A driver never
 * starts a new grace period without winning the even->odd CAS in claim(). Its clearing of
 * GP_DRIVER is a CAS of its own id, which at worst lets a later GP be taken over too.
 */
import { QuiesceError } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import {
  RCU_EXP_COUNT,
  RCU_GP_COUNT,
  RCU_GP_DRIVER,
  RCU_GP_SEQ,
  RCU_QS_EVENTS,
  T_QS_ACK,
  T_QS_REQ,
  ThreadState,
  slotWord,
} from '../domain/layout.js';
import { Deadline, runAsync, runSync, type WaitProgram } from '../domain/wait.js';
import { done, inProgress, snap } from './seq.js';

export class GpEngine {
  private readonly i32: Int32Array;

  constructor(
    private readonly core: DomainCore,
    /** True while this thread is inside an RCU read section of this domain (rcu.ts nesting > 0). */
    private readonly inReader: () => boolean,
  ) {
    this.i32 = core.i32;
  }

  seq(): number {
    return Atomics.load(this.i32, RCU_GP_SEQ);
  }
  snap(): number {
    return snap(this.seq());
  }
  done(s: number): boolean {
    return done(this.seq(), s);
  }
  /** Completed grace periods since the domain was created. */
  completed(): number {
    return Atomics.load(this.i32, RCU_GP_COUNT);
  }
  expedited(): number {
    return Atomics.load(this.i32, RCU_EXP_COUNT);
  }

  /** Try to become the driver of the current or a new grace period. Returns the gp number or -1. */
  private claim(): number {
    const i32 = this.i32;
    const me = this.core.slot + 1;
    const seq = Atomics.load(i32, RCU_GP_SEQ);
    if (!inProgress(seq)) {
      if (Atomics.compareExchange(i32, RCU_GP_SEQ, seq, (seq + 1) | 0) !== seq) return -1;
      Atomics.store(i32, RCU_GP_DRIVER, me);
      this.request((seq + 1) | 0);
      return (seq + 1) | 0;
    }
    // A GP is running: take it over if nobody drives it, its driver's thread is not ONLINE (dead,
    // or OFFLINE: blocked in a quiesce wait, so its driver cannot run), or its driver is a
    // (suspended) async task of THIS thread: a blocking waiter here would otherwise sleep waiting
    // for a driver that cannot run until it wakes. Two drivers of one GP are harmless (header).
    const d = Atomics.load(i32, RCU_GP_DRIVER);
    if (d !== 0 && d !== me && this.core.threads.canRun(d - 1)) return -1;
    if (Atomics.compareExchange(i32, RCU_GP_DRIVER, d, me) !== d) return -1;
    if (Atomics.load(i32, RCU_GP_SEQ) !== seq) {
      Atomics.compareExchange(i32, RCU_GP_DRIVER, me, 0);
      return -1;
    }
    this.request(seq);
    return seq;
  }

  /** Ask every online thread for a quiescent state after `gp` began (this one only if inside a reader). */
  private request(gp: number): void {
    const { i32, core } = this;
    for (let t = 0; t < core.g.maxThreads; t++) {
      if (t === core.slot && !this.inReader()) continue; // quiescent now: see header
      if (Atomics.load(i32, slotWord(core.g, t, 0)) !== ThreadState.ONLINE) continue;
      const w = slotWord(core.g, t, T_QS_REQ);
      Atomics.store(i32, w, gp);
      Atomics.notify(i32, w);
    }
  }

  /** True once every thread has passed a quiescent state for `gp` (or needs none). */
  private allQuiescent(gp: number): boolean {
    const { i32, core } = this;
    for (let t = 0; t < core.g.maxThreads; t++) {
      if (t === core.slot && !this.inReader()) continue; // outside any reader now: see header
      if (Atomics.load(i32, slotWord(core.g, t, 0)) !== ThreadState.ONLINE) continue;
      // Exact equality, not done(): while gp is in progress no later GP has started, so an ack or
      // a request of gp or later can only be gp itself. A thread that was OFFLINE (or a slot that
      // was FREE) for 2^30 grace periods keeps words so old that a wrap-around comparison reads
      // them as ahead of gp: done() would count it quiescent unasked, inside a reader (header).
      if (Atomics.load(i32, slotWord(core.g, t, T_QS_ACK)) !== gp) {
        // A thread that came online after the request was made was not asked: ask it now.
        const w = slotWord(core.g, t, T_QS_REQ);
        if (Atomics.load(i32, w) !== gp) {
          Atomics.store(i32, w, gp);
          Atomics.notify(i32, w);
        }
        return false;
      }
    }
    return true;
  }

  private finish(gp: number, expedited: boolean): void {
    const i32 = this.i32;
    Atomics.compareExchange(i32, RCU_GP_DRIVER, this.core.slot + 1, 0);
    if (Atomics.compareExchange(i32, RCU_GP_SEQ, gp, (gp + 1) | 0) === gp) {
      Atomics.add(i32, RCU_GP_COUNT, 1);
      if (expedited) Atomics.add(i32, RCU_EXP_COUNT, 1);
    }
    Atomics.notify(i32, RCU_GP_SEQ);
    this.kick();
  }

  /**
   * Wake every driver asleep on QS_EVENTS so it re-checks GP_SEQ: a stale driver of a GP another
   * driver just ended sleeps there, not on GP_SEQ (header). The add, after the GP_SEQ store, makes
   * a driver that loaded QS_EVENTS before its GP_SEQ check find the word changed. Also used by
   * Srcu, whose stale driver may be asleep in its step 2 (this engine's reach) when its GP ends.
   * @internal
   */
  kick(): void {
    Atomics.add(this.i32, RCU_QS_EVENTS, 1);
    Atomics.notify(this.i32, RCU_QS_EVENTS);
  }

  private resign(gp: number): void {
    if (Atomics.compareExchange(this.i32, RCU_GP_DRIVER, this.core.slot + 1, 0) === this.core.slot + 1) {
      Atomics.notify(this.i32, RCU_GP_SEQ);
    }
    void gp;
  }

  /**
   * @internal domain.detach(): this thread's slot is about to be freed, so it must no longer be
   * named as the driver (header); any driver task of this thread runs on with id 0 (slot -1).
   */
  leave(): void {
    this.resign(0);
  }

  /**
   * Wait until GP_SEQ reaches `s`, driving grace periods as needed (a wait program: runSync and
   * runAsync drive it). Returns false on timeout, and only if `s` is really not done. A driver that
   * gives up (timeout/abort) resigns, and so does one that finds GP_SEQ moved past the GP it drives
   * (another driver ended it): it leaves without finish() (see header). `abandon` (Srcu's step 2): checked
   * at every wake-up; once it is true the program resigns whatever it drives and returns false.
   */
  /** @internal (also a step of Srcu's wait program) */
  *reach(s: number, expedited: boolean, abandon?: () => boolean): WaitProgram<boolean> {
    const i32 = this.i32;
    for (;;) {
      const seq = Atomics.load(i32, RCU_GP_SEQ);
      if (done(seq, s)) return true;
      if (abandon?.()) return false;
      const gp = this.claim();
      if (gp === -1) {
        if ((yield { index: RCU_GP_SEQ, value: seq, sliceMs: 100 }) === 'timed-out') return done(Atomics.load(i32, RCU_GP_SEQ), s);
        continue;
      }
      // Every way out but finish() leaves gp undriven by us (we gave up, or another driver ended
      // it: stale), and then GP_DRIVER must not go on naming this thread: resign (header).
      let ended = false;
      try {
        let quiet = false;
        for (;;) {
          const ev = Atomics.load(i32, RCU_QS_EVENTS); // before the GP_SEQ check: see kick()
          if (Atomics.load(i32, RCU_GP_SEQ) !== gp) break; // stale: the outer loop re-checks s
          if (abandon?.()) return false;
          if ((quiet = this.allQuiescent(gp))) break;
          if ((yield { index: RCU_QS_EVENTS, value: ev }) === 'timed-out') {
            if (Atomics.load(i32, RCU_GP_SEQ) === gp && (quiet = this.allQuiescent(gp))) break;
            return done(Atomics.load(i32, RCU_GP_SEQ), s);
          }
        }
        if (quiet) {
          this.finish(gp, expedited);
          ended = true;
        }
      } finally {
        if (!ended) this.resign(gp);
      }
    }
  }

  /** Block until GP_SEQ reaches `s`. Returns false on timeout. ERR_RCU_MISUSE inside a read section. */
  waitSync(s: number, deadline: Deadline, expedited = false): boolean {
    if (this.inReader() && !done(this.seq(), s)) {
      throw new QuiesceError('ERR_RCU_MISUSE', `Rcu of domain '${this.core.name}': a blocking wait for a grace period inside an RCU read section would wait for itself`);
    }
    return runSync(this.i32, this.reach(s, expedited), deadline);
  }

  /** Await GP_SEQ reaching `s`. Resolves false on timeout; rejects with abortError() on abort. */
  waitAsync(s: number, deadline: Deadline, signal: AbortSignal | undefined, abortError: () => Error, expedited = false): Promise<boolean> {
    return runAsync(this.i32, this.reach(s, expedited), deadline, signal, abortError);
  }
}
