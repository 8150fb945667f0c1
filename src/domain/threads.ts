/*
 * The thread registry: which threads use the domain, and in what state (the kernel's cpu masks).
 *
 * Slot states (layout.ts ThreadState):  FREE -> STARTING -> ONLINE <-> OFFLINE -> DEAD
 *                                       FREE ------------> ONLINE -> (detach) FREE
 * A slot is claimed with a compareExchange on T_STATE, so two threads never get one slot. T_GEN is
 * bumped on every claim; whoever marks a slot dead names the generation it saw, so a stale 'exit'
 * event can never kill the slot's next occupant. DEAD slots are never reused: the per-thread
 * counters of a dead thread stay part of every sum (its references are still held; a drain names
 * them), exactly like the percpu counters of an offlined CPU.
 *
 * T_THREAD_ID names the occupant; watchers mark dead every live slot holding the threadId of a
 * worker that exited, so it must never name anyone else. A reservation is made for one worker:
 * reserve() stores NO_THREAD (-1, never a real threadId) and spawn() stores the worker's threadId
 * as soon as `new Worker` returns (reserveFor). claimReserved() only claims a STARTING slot of the
 * right generation reserved for the calling threadId (waiting briefly for reserveFor if the worker
 * got there first): a sub-worker that inherited the reservation through worker_threads environment
 * data is refused and writes nothing. claim() stores the threadId only after its own FREE ->
 * STARTING CAS has made the slot its own.
 *
 * A worker that exits marks its own slot DEAD and then runs the death handlers itself (domain.ts):
 * DEAD, yet still running JS. markOwnDeath() sets T_OWN_DEATH before its DEAD CAS and
 * ownDeathHandled() clears it after the handlers, so a lock that steals from a dead holder asks
 * holderGone() (DEAD and not running its own handlers, or FREE) and never steals from a dying
 * thread inside a section of its own handler. If that thread is terminate()d in the middle, the
 * watcher of its exit (which runs once it has stopped) clears the word with stopped(), a CAS 1 -> 0:
 * exactly one watcher wins it, and runs the death handlers again for the slot, since the dead
 * thread ran only some of them (every handler is safe to run again after a partial run).
 *
 * A worker's own workers stop with it (Node stops a thread's sub-workers when it exits or is
 * terminated, and runs no JS in them), so their own 'exit' listeners never run and their watcher,
 * the parent, is gone. T_PARENT names the thread that started a slot's occupant: the reserver
 * for a spawn() reservation (reserve()), else the starter the occupant inherited through
 * worker_threads environment data (domain.ts). descendantsOf() follows it down from a worker seen
 * to exit, and its watcher marks their live slots dead too. It is written before the slot leaves
 * STARTING and read by a watcher only after the worker has stopped (the Worker 'exit' event
 * follows the join of its thread, which stopped and joined its sub-workers first). threadIds are
 * never reused in a process, so the pair of a FREE or DEAD slot states a past fact, never a wrong
 * one, and is followed too; NO_THREAD (-1) is nobody's child. Not covered: a reservation (STARTING)
 * whose worker stopped with its spawner before attaching stays STARTING (never waited for, one
 * slot lost, like a dead one).
 *
 * Every state change bumps H_THREAD_EPOCH and RCU_QS_EVENTS and notifies both words, so anything
 * waiting on a thread (a grace period, a robust mutex waiter) re-checks at once.
 */
import { QuiesceError } from '../errors.js';
import { H_THREAD_EPOCH, RCU_QS_EVENTS, T_GEN, T_OWN_DEATH, T_PARENT, T_STATE, T_THREAD_ID, ThreadState, slotWord, type Geometry } from './layout.js';

/** T_THREAD_ID of a reserved slot whose worker is not yet known (no thread has threadId -1). */
const NO_THREAD = -1;
/** How long a spawned worker waits for its spawner to name it (it does so synchronously). */
const RESERVE_FOR_WAIT_MS = 5000;

export class Threads {
  constructor(
    private readonly i32: Int32Array,
    private readonly g: Geometry,
    private readonly domainName: () => string,
  ) {}

  state(t: number): ThreadState {
    return Atomics.load(this.i32, slotWord(this.g, t, T_STATE));
  }
  gen(t: number): number {
    return Atomics.load(this.i32, slotWord(this.g, t, T_GEN));
  }
  threadId(t: number): number {
    return Atomics.load(this.i32, slotWord(this.g, t, T_THREAD_ID));
  }

  private changed(): void {
    Atomics.add(this.i32, H_THREAD_EPOCH, 1);
    Atomics.notify(this.i32, H_THREAD_EPOCH);
    Atomics.add(this.i32, RCU_QS_EVENTS, 1);
    Atomics.notify(this.i32, RCU_QS_EVENTS);
  }

  private full(): QuiesceError {
    return new QuiesceError(
      'ERR_DOMAIN_FULL',
      `Domain '${this.domainName()}': all ${this.g.maxThreads} thread slots are in use or dead (raise maxThreads)`,
    );
  }

  /** Claim a FREE slot for the calling thread (ONLINE), started by thread `parent` (-1: unknown). */
  claim(threadId: number, parent: number): { slot: number; gen: number } {
    for (let t = 0; t < this.g.maxThreads; t++) {
      const w = slotWord(this.g, t, T_STATE);
      if (Atomics.compareExchange(this.i32, w, ThreadState.FREE, ThreadState.STARTING) === ThreadState.FREE) {
        // The slot is ours (STARTING, fresh generation): only now may its threadId change.
        const gen = Atomics.add(this.i32, slotWord(this.g, t, T_GEN), 1) + 1;
        Atomics.store(this.i32, slotWord(this.g, t, T_THREAD_ID), threadId);
        Atomics.store(this.i32, slotWord(this.g, t, T_PARENT), parent);
        Atomics.store(this.i32, w, ThreadState.ONLINE);
        this.changed();
        return { slot: t, gen };
      }
    }
    throw this.full();
  }

  /** Reserve a slot for a worker the thread `reserver` is about to spawn (STARTING: never waited for). */
  reserve(reserver: number): { slot: number; gen: number } {
    for (let t = 0; t < this.g.maxThreads; t++) {
      const w = slotWord(this.g, t, T_STATE);
      if (Atomics.compareExchange(this.i32, w, ThreadState.FREE, ThreadState.STARTING) === ThreadState.FREE) {
        Atomics.store(this.i32, slotWord(this.g, t, T_THREAD_ID), NO_THREAD); // reserveFor() names the worker
        Atomics.store(this.i32, slotWord(this.g, t, T_PARENT), reserver); // the worker's parent: claimReserved() keeps it
        return { slot: t, gen: Atomics.add(this.i32, slotWord(this.g, t, T_GEN), 1) + 1 };
      }
    }
    throw this.full();
  }

  /** The reservation (slot, gen) is for the worker with this threadId (spawn(), once it exists). */
  reserveFor(slot: number, gen: number, threadId: number): void {
    const w = slotWord(this.g, slot, T_THREAD_ID);
    if (this.gen(slot) === gen && this.state(slot) === ThreadState.STARTING) Atomics.compareExchange(this.i32, w, NO_THREAD, threadId);
    Atomics.notify(this.i32, w);
  }

  /**
   * The reserved worker takes its slot. Null, with nothing written, unless the slot is still
   * STARTING in generation `gen` and reserved for `threadId` (see the header).
   */
  claimReserved(slot: number, gen: number, threadId: number): { slot: number; gen: number } | null {
    if (this.gen(slot) !== gen || this.state(slot) !== ThreadState.STARTING) return null;
    const idWord = slotWord(this.g, slot, T_THREAD_ID);
    // spawn() names the worker right after `new Worker` returns; the worker may get here first.
    const until = performance.now() + RESERVE_FOR_WAIT_MS;
    while (Atomics.load(this.i32, idWord) === NO_THREAD && this.gen(slot) === gen && performance.now() < until) {
      Atomics.wait(this.i32, idWord, NO_THREAD, 10);
    }
    if (Atomics.load(this.i32, idWord) !== threadId || this.gen(slot) !== gen) return null;
    if (Atomics.compareExchange(this.i32, slotWord(this.g, slot, T_STATE), ThreadState.STARTING, ThreadState.ONLINE) !== ThreadState.STARTING) {
      return null;
    }
    this.changed();
    return { slot, gen };
  }

  /** The thread leaves for good (detach): its slot becomes FREE, its counters stay in the sums. */
  leave(slot: number): void {
    Atomics.store(this.i32, slotWord(this.g, slot, T_STATE), ThreadState.FREE);
    this.changed();
  }

  /** A reserved worker exited before attaching: give the slot back. */
  unreserve(slot: number, gen: number): void {
    if (this.gen(slot) === gen) Atomics.compareExchange(this.i32, slotWord(this.g, slot, T_STATE), ThreadState.STARTING, ThreadState.FREE);
  }

  /** The occupant of `slot` (generation `gen`) exited, crashed or was terminated. True if it was marked. */
  markDead(slot: number, gen: number): boolean {
    if (this.gen(slot) !== gen) return false;
    const w = slotWord(this.g, slot, T_STATE);
    for (;;) {
      const s = Atomics.load(this.i32, w);
      if (s === ThreadState.FREE || s === ThreadState.DEAD) return false;
      if (s === ThreadState.STARTING) {
        // never attached: nothing of its can be held
        if (Atomics.compareExchange(this.i32, w, s, ThreadState.FREE) === s) return false;
        continue;
      }
      if (Atomics.compareExchange(this.i32, w, s, ThreadState.DEAD) === s) break;
    }
    this.changed();
    return true;
  }

  /**
   * The calling thread, exiting, marks its own slot (generation `gen`) dead: markDead(), with
   * T_OWN_DEATH set first, since it goes on to run the death handlers itself. True if it was
   * marked (then call ownDeathHandled() once the handlers are done).
   */
  markOwnDeath(slot: number, gen: number): boolean {
    const w = slotWord(this.g, slot, T_OWN_DEATH);
    Atomics.store(this.i32, w, 1);
    if (this.markDead(slot, gen)) return true;
    Atomics.store(this.i32, w, 0);
    return false;
  }

  /** The dying thread has run its own death handlers (see markOwnDeath). */
  ownDeathHandled(slot: number): void {
    Atomics.store(this.i32, slotWord(this.g, slot, T_OWN_DEATH), 0);
  }

  /**
   * The worker with this threadId has stopped running JS (its Worker 'exit' event): its dead slots
   * no longer run their own death handlers, even if it was terminated in the middle of them.
   * Returns the slots whose handlers it cut short (T_OWN_DEATH still set): each is returned to
   * exactly one caller (CAS 1 -> 0), which must run the death handlers for it again.
   */
  stopped(threadId: number): number[] {
    const cut: number[] = [];
    for (let t = 0; t < this.g.maxThreads; t++) {
      if (this.state(t) !== ThreadState.DEAD || this.threadId(t) !== threadId) continue;
      if (Atomics.compareExchange(this.i32, slotWord(this.g, t, T_OWN_DEATH), 1, 0) === 1) cut.push(t);
    }
    return cut;
  }

  /**
   * For locks that steal from a holder that died inside its section: true if the thread in slot
   * `t` will never run again (FREE, or DEAD and not running its own death handlers).
   */
  holderGone(t: number): boolean {
    const s = this.state(t);
    return s === ThreadState.FREE || (s === ThreadState.DEAD && Atomics.load(this.i32, slotWord(this.g, t, T_OWN_DEATH)) === 0);
  }

  /**
   * The threads started, directly or not, by the thread `threadId`, which has stopped (so have
   * they: see the header). Reads each slot's (T_THREAD_ID, T_PARENT) pair between two reads of
   * T_GEN and skips STARTING slots, so a pair is never half an old occupant's and half a new one's
   * (claim() bumps T_GEN before it writes either, and both are written before the slot leaves
   * STARTING).
   */
  descendantsOf(threadId: number): number[] {
    const out: number[] = [];
    const gone = [threadId];
    for (let i = 0; i < gone.length; i++) {
      for (let t = 0; t < this.g.maxThreads; t++) {
        const gen = this.gen(t);
        if (this.state(t) === ThreadState.STARTING) continue;
        const parent = Atomics.load(this.i32, slotWord(this.g, t, T_PARENT));
        const child = this.threadId(t);
        if (this.gen(t) !== gen || parent !== gone[i] || child === NO_THREAD || gone.includes(child)) continue;
        gone.push(child);
        out.push(child);
      }
    }
    return out;
  }

  /** Every live slot occupied by the thread with this worker_threads threadId (normally 0 or 1). */
  slotsOfThread(threadId: number): { slot: number; gen: number }[] {
    const out: { slot: number; gen: number }[] = [];
    for (let t = 0; t < this.g.maxThreads; t++) {
      if (this.isAlive(t) && this.threadId(t) === threadId) out.push({ slot: t, gen: this.gen(t) });
    }
    return out;
  }

  /**
   * True if the thread in slot `t` can run its own async work now: ONLINE (not dead or free, and
   * not OFFLINE, i.e. blocked in a quiesce wait). A grace-period driver or a ref switch whose
   * owner cannot run is taken over by a thread that waits for it (rcu/gp.ts, rcu/srcu.ts,
   * ref/percpu-ref.ts).
   */
  canRun(t: number): boolean {
    return this.state(t) === ThreadState.ONLINE;
  }

  /**
   * True if the thread in slot `t` is blocked in one of quiesce's own waits (OFFLINE): alive, but
   * none of its async tasks can run until that wait returns. A lock does not let such a task's
   * wait keep others out (mutex.ts stuck grant, rwsem.ts / percpu-rwsem.ts stuck writers).
   */
  blockedInWait(t: number): boolean {
    return this.state(t) === ThreadState.OFFLINE;
  }

  /** True for ONLINE or OFFLINE (a thread that is attached and alive). */
  isAlive(t: number): boolean {
    const s = this.state(t);
    return s === ThreadState.ONLINE || s === ThreadState.OFFLINE;
  }

  describe(t: number): string {
    const s = this.state(t);
    const names = ['free', 'starting', 'alive', 'alive (blocked)', 'dead'];
    return `thread ${t} (threadId ${this.threadId(t)}, ${names[s] ?? 'unknown'})`;
  }
}
