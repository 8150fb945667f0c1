/*
 * RcuSync: the kernel's rcu_sync (kernel/rcu/sync.c), in shared memory. It tells readers whether
 * they may use a fast path, and gives updaters a way to force every reader off it.
 *
 * State machine (gp_state, one word; gp_count, writers between enter() and exit()):
 *
 *   enter():  if gp_count++ == 0 and state == IDLE: state = ENTER, start a grace period;
 *             then wait until state >= PASSED (the grace period, shared by every enterer).
 *   exit():   if --gp_count == 0: PASSED -> EXIT, start a grace period;
 *                                 EXIT -> REPLAY (the pending grace period will be followed by one more)
 *   func (rcu_sync_func, runs once the pending grace period CB_SEQ has completed):
 *             gp_count > 0          -> PASSED   (an enter came in meanwhile: no new GP needed)
 *             state == REPLAY       -> EXIT, start another grace period
 *             otherwise             -> IDLE     (readers may use the fast path again)
 *
 * So enters close together share one grace period, and an exit followed soon by an enter skips
 * the grace period entirely (EXIT/REPLAY count as "passed": readers never got back to the fast path).
 * An enter that times out or is aborted undoes itself with exit(); an ENTER whose gp_count fell back
 * to 0 goes straight to IDLE in func (no writer ever got in).
 *
 * Who runs func: there is no softirq to run call_rcu callbacks for a shared object, so func is
 * identified by (state in {ENTER, EXIT, REPLAY}, CB_SEQ) and may be run by ANY thread that sees the
 * grace period CB_SEQ completed, under the lock, re-checking both: enter() waiters run it after their
 * grace period; a callback queued with rcu.call() runs it; readers on the slow path try it too.
 * Running it twice is harmless: the second run finds the state changed or CB_SEQ not done.
 *
 * Who drives the grace period func waits for: as in the kernel, in EXIT and REPLAY (and in an ENTER
 * that no enterer waits for any more) a callback is always pending, and the callback's call_rcu is
 * what drives the grace period. Here RSYNC_CB names the thread (slot+1) whose rcu.call() holds it:
 * set under the lock by whoever queues it, cleared under the lock by the callback when it runs
 * (which then runs func and, if func is still needed, queues it again). A callback whose thread is
 * not alive (DEAD: it will never run; FREE: detach() ran it already) or that nobody queued (a death
 * handler with no live thread to queue on) is missing: every exit() and every poll() (slow-path
 * readers, enter() waiters, death handlers on live threads) that finds func needed and its callback
 * missing queues it on its own thread (claimCallback). So after any exit()/poll() by a live
 * attached thread a pending func has a callback that will run, and the state machine gets back
 * to IDLE without anyone else driving a grace period: REPLAY never waits for a callback that
 * does not exist.
 *
 * Thread death: an owner may give each thread's RcuSync a per-thread mirror word counting that
 * thread's enters not yet exited (gp_count is shared and says nothing about who entered). Its death
 * handler then calls exit() once per recorded enter on the dead thread's behalf, so an updater that
 * died anywhere between enter() and exit() does not keep readers off the fast path for good.
 *
 * The lock (RSYNC_LOCK) guards STATE/COUNT/CB_SEQ/CB transitions; its sections never wait. It records
 * its holder (slot+1) so a thread that died holding it (terminate() can stop a worker anywhere) does
 * not wedge the object: the next locker steals it from a dead holder. Not from a worker that is
 * DEAD but still running its own death handlers (domain.ts: exit() runs in PercpuRwSem's), which
 * holds it like any live thread (threads.ts holderGone()).
 *
 * Memory model (the reader side, as in percpu-rwsem.c):
 *  - readers test `i32[STATE] === IDLE` with a PLAIN load and, in the same synchronous run, touch
 *    only their own per-thread counter. enter() stores ENTER (Atomics, SC) BEFORE it snapshots the
 *    grace-period sequence, so the grace period it waits for starts after that store. A thread acks
 *    that grace period only at its next event-loop turn (or is offline: domain/thread.ts), after it
 *    observed the driver's T_QS_REQ store (rcu/gp.ts): so (1) every fast-path update it made while it
 *    saw IDLE happens-before the end of the grace period, and (2) every fast-path check it makes
 *    afterwards happens-after the ENTER store, and sees non-IDLE. That is all an updater needs.
 *  - the way back: IDLE is stored only by func, after a full grace period that started after the
 *    last writer's exit(). A reader that sees IDLE runs in a turn after its ack of that grace period,
 *    so it happens-after everything the writer did before exit(): W_R ordering without barriers.
 *  - STATE/COUNT/CB_SEQ/CB themselves are read and written with Atomics under the lock (CAS acquire,
 *    store release). poll()'s unlocked look at them is only a hint to skip the lock: everything
 *    it decides is re-checked under the lock.
 */
import type { DomainCore } from '../domain/core.js';
import { RSYNC_CB, RSYNC_CB_SEQ, RSYNC_COUNT, RSYNC_LOCK, RSYNC_STATE } from '../domain/layout.js';
import type { WaitProgram } from '../domain/wait.js';
import type { GpEngine } from '../rcu/gp.js';

export const GP_IDLE = 0;
export const GP_ENTER = 1;
export const GP_PASSED = 2;
export const GP_EXIT = 3;
export const GP_REPLAY = 4;

export class RcuSync {
  private readonly i32: Int32Array;
  /** Word index of gp_state (readers of the owner test it plainly: `i32[stateWord] === GP_IDLE`). */
  readonly stateWord: number;
  private readonly countWord: number;
  private readonly cbSeqWord: number;
  private readonly lockWord: number;
  private readonly cbWord: number;

  /**
   * `base`: word index of the RSYNC_WORDS block inside the owner's shared header; `gp`: the
   * domain's grace-period engine; `call`: this thread's call_rcu (null: this instance never queues
   * func's callback; a missing one is queued by the next live thread's exit() or poll()).
   */
  constructor(
    private readonly core: DomainCore,
    private readonly gp: GpEngine,
    private readonly call: ((fn: () => void) => void) | null,
    base: number,
    /**
     * Word index of THIS thread's count of its enters not yet exited (owner-only writes), so a
     * death handler can exit() on behalf of a thread that died between enter and exit; null: none.
     */
    private readonly mirrorWord: number | null = null,
  ) {
    this.i32 = core.i32;
    this.stateWord = base + RSYNC_STATE;
    this.countWord = base + RSYNC_COUNT;
    this.cbSeqWord = base + RSYNC_CB_SEQ;
    this.lockWord = base + RSYNC_LOCK;
    this.cbWord = base + RSYNC_CB;
  }

  /** This thread's enters not yet exited (its mirror word; 0 when it keeps none). */
  enteredHere(): number {
    return this.mirrorWord === null ? 0 : Atomics.load(this.i32, this.mirrorWord);
  }

  /** rcu_sync_is_idle(), for reports and tests (readers inline the plain load). */
  isIdle(): boolean {
    return Atomics.load(this.i32, this.stateWord) === GP_IDLE;
  }

  state(): number {
    return Atomics.load(this.i32, this.stateWord);
  }

  // ---- the lock ---------------------------------------------------------------------------------

  private lock(): void {
    const { i32, lockWord } = this;
    const me = this.core.slot + 1;
    for (let spins = 0; ; spins++) {
      const cur = Atomics.compareExchange(i32, lockWord, 0, me);
      if (cur === 0) return;
      // Not from a DEAD thread still running its own death handlers (threads.ts holderGone()).
      if (this.core.threads.holderGone(cur - 1)) {
        if (Atomics.compareExchange(i32, lockWord, cur, me) === cur) return; // holder died inside: steal
        continue;
      }
      // Sections are a few instructions long: spin, then nap briefly (the holder may be descheduled).
      if (spins > 100) Atomics.wait(i32, lockWord, cur, 0.05);
    }
  }

  private unlock(): void {
    Atomics.store(this.i32, this.lockWord, 0);
    Atomics.notify(this.i32, this.lockWord, 1);
  }

  // ---- enter --------------------------------------------------------------------------------------

  /** The first half of rcu_sync_enter(): count this updater in. True if it must wait for a GP. */
  private enterBegin(): boolean {
    const i32 = this.i32;
    this.lock();
    try {
      const n = Atomics.add(i32, this.countWord, 1);
      if (this.mirrorWord !== null) Atomics.add(i32, this.mirrorWord, 1); // after the gain (see exit)
      if (n === 0 && Atomics.load(i32, this.stateWord) === GP_IDLE) {
        Atomics.store(i32, this.stateWord, GP_ENTER);
        // Snapshot AFTER the store: the grace period waited for starts after readers can see ENTER.
        Atomics.store(i32, this.cbSeqWord, this.gp.snap());
      }
      return Atomics.load(i32, this.stateWord) < GP_PASSED;
    } finally {
      this.unlock();
    }
  }

  /**
   * rcu_sync_enter(): force readers off the fast path. A wait program (domain/wait.ts): returns
   * true once every reader is off it, false on timeout; on timeout or abort the enter is undone.
   */
  *enter(): WaitProgram<boolean> {
    if (!this.enterBegin()) return true;
    try {
      for (;;) {
        if (Atomics.load(this.i32, this.stateWord) >= GP_PASSED) return true;
        const s = Atomics.load(this.i32, this.cbSeqWord);
        if (!(yield* this.gp.reach(s, false))) {
          this.exit();
          return false;
        }
        this.poll();
      }
    } catch (e) {
      this.exit();
      throw e;
    }
  }

  // ---- exit ---------------------------------------------------------------------------------------

  /** rcu_sync_exit(): readers may use the fast path again one grace period from now. */
  exit(): void {
    const i32 = this.i32;
    let queue = false;
    this.lock();
    try {
      // Mirror before the loss (and after the gain in enterBegin), back to back under the lock: a
      // thread that dies in between leaves at worst an enter nobody exits, never one exited twice.
      // (A death handler exiting for a dead thread counts its exits down with the same word.)
      if (this.mirrorWord !== null) Atomics.sub(i32, this.mirrorWord, 1);
      if (Atomics.sub(i32, this.countWord, 1) === 1) {
        const st = Atomics.load(i32, this.stateWord);
        if (st === GP_PASSED) {
          Atomics.store(i32, this.stateWord, GP_EXIT);
          Atomics.store(i32, this.cbSeqWord, this.gp.snap());
        } else if (st === GP_EXIT) {
          Atomics.store(i32, this.stateWord, GP_REPLAY); // the pending callback's func will start one more
        }
        // (ENTER: an enter gave up; func will take it back to IDLE)
      }
      queue = this.claimCallback();
    } finally {
      this.unlock();
    }
    if (queue) this.call!(this.scheduled);
  }

  /**
   * Under the lock. True if func's callback is needed and not queued on a live thread (see the
   * header), and this thread can queue it: RSYNC_CB now names this thread, which must call() it
   * once the lock is dropped.
   */
  private claimCallback(): boolean {
    if (this.callbackOk() || this.call === null || !this.core.attached || !this.core.threads.isAlive(this.core.slot)) return false;
    Atomics.store(this.i32, this.cbWord, this.core.slot + 1);
    return true;
  }

  /** False if func needs a callback (EXIT, REPLAY, or an ENTER nobody waits in) and none is queued on a live thread. */
  private callbackOk(): boolean {
    const i32 = this.i32;
    const st = Atomics.load(i32, this.stateWord);
    if (st === GP_IDLE || st === GP_PASSED) return true;
    if (st === GP_ENTER && Atomics.load(i32, this.countWord) > 0) return true; // its enterers drive the GP and run func
    const cb = Atomics.load(i32, this.cbWord);
    return cb !== 0 && this.core.threads.isAlive(cb - 1);
  }

  /** The queued callback (rcu_sync_func's call_rcu): no longer queued here; run func, re-queue if needed. */
  private readonly scheduled = (): void => {
    this.func(true);
  };

  // ---- func -----------------------------------------------------------------------------------------

  /**
   * Run rcu_sync_func if its grace period has completed, and queue its callback here if it is
   * missing. Cheap when nothing is pending (one load) or the pending func's callback is queued.
   * Returns true if a func is still pending afterwards.
   */
  poll(): boolean {
    return this.func(false);
  }

  private func(fromCallback: boolean): boolean {
    const i32 = this.i32;
    if (!fromCallback) {
      const st0 = Atomics.load(i32, this.stateWord);
      if (st0 === GP_IDLE || st0 === GP_PASSED) return false;
      if (!this.gp.done(Atomics.load(i32, this.cbSeqWord)) && this.callbackOk()) return true;
    }
    let queue = false;
    let pending: boolean;
    this.lock();
    try {
      if (fromCallback && Atomics.load(i32, this.cbWord) === this.core.slot + 1) Atomics.store(i32, this.cbWord, 0);
      const st = Atomics.load(i32, this.stateWord);
      if (st !== GP_IDLE && st !== GP_PASSED && this.gp.done(Atomics.load(i32, this.cbSeqWord))) {
        if (Atomics.load(i32, this.countWord) > 0) {
          Atomics.store(i32, this.stateWord, GP_PASSED);
        } else if (st === GP_REPLAY) {
          Atomics.store(i32, this.stateWord, GP_EXIT);
          Atomics.store(i32, this.cbSeqWord, this.gp.snap());
        } else {
          Atomics.store(i32, this.stateWord, GP_IDLE);
        }
      }
      const st1 = Atomics.load(i32, this.stateWord);
      pending = st1 !== GP_IDLE && st1 !== GP_PASSED;
      queue = this.claimCallback(); // e.g. REPLAY -> EXIT above: its own func's callback
    } finally {
      this.unlock();
    }
    if (queue) this.call!(this.scheduled);
    return pending;
  }
}
