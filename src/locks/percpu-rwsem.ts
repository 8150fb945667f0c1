/*
 * PercpuRwSem: the kernel's percpu_rw_semaphore (kernel/locking/percpu-rwsem.c), across threads.
 * Readers cost a plain load and a plain increment of their own thread's counter while no writer
 * is around; a writer pays a grace period (rcu_sync, locks/rcu-sync.ts) to switch readers off that
 * fast path, then excludes them.
 *
 * Shared state (layout.ts PRW_*): the rcu_sync block, BLOCK (0, or the writer's slot+1),
 * READER_EVENTS (slow-path read unlocks bump and notify it); per thread: read_count (PRW_PC_READ)
 * and the thread's rcu_sync enters not yet exited (PRW_PC_RSYNC, kept by RcuSync; death only).
 *
 *   down_read:  if rcu_sync idle (PLAIN load of its state): read_count[me]++ (plain)      fast path
 *               else: Atomics.add(read_count[me], 1); if Atomics.load(BLOCK) == 0: done   slow path
 *                     else Atomics.sub(read_count[me], 1), wake the writer, wait for BLOCK == 0, retry
 *   up_read:    if rcu_sync idle: read_count[me]-- (plain)
 *               else: Atomics.sub(read_count[me], 1); bump + notify READER_EVENTS
 *   down_write: rcu_sync_enter (one grace period; shared with close-by writers, skipped right after an exit)
 *               CAS BLOCK 0 -> me (waiting on BLOCK while another writer has it; only a CAS that
 *               returns 0 takes it, after every sleep too: BLOCK names a THREAD, and another
 *               async task of this same thread may be the writer holding it)
 *               wait until SUM over all threads of read_count == 0 (waiting on READER_EVENTS)
 *   up_write:   Atomics.store(BLOCK, 0), notify; rcu_sync_exit (fast path back one grace period later)
 *
 * Invariants: read_count[t] is written only by thread t; only the SUM means anything (a read side
 * handed off from thread A to B is +1 on A and -1 on B: fine, see handoff() below). While BLOCK is
 * held no reader gets in: readers arriving then queue on BLOCK, so a stream of readers cannot
 * starve a writer (write-favoring). Writers among themselves race for BLOCK (no FIFO queue as in the
 * kernel's percpu_rwsem_wait); a reader waiting for BLOCK races with the next writer as well.
 *
 * Memory model:
 *  - fast path vs writer: rcu_sync's grace period (see locks/rcu-sync.ts). Once rcu_sync_enter has
 *    returned, every plain read_count update made on a fast path happens-before the writer's sum,
 *    and every later check of the state by any thread sees non-idle, so no thread touches its
 *    counter plainly again until the writer's rcu_sync_exit plus a grace period.
 *  - slow path vs writer (Dekker, all SC Atomics): the reader does add(read_count) then
 *    load(BLOCK); the writer does CAS(BLOCK) then load(read_count[t]) for every t. Either the reader
 *    sees BLOCK and backs off, or the writer's sum sees its increment (and waits for its unlock).
 *  - writer sleeping vs reader unlock: the writer loads READER_EVENTS, then sums; the unlocker
 *    subs its count, then adds READER_EVENTS and notifies. If the sum missed the sub, the add comes
 *    after the writer's load of READER_EVENTS, so its wait returns at once.
 *  - a single scan suffices: after BLOCK is set, a thread's count can only grow transiently (an
 *    increment that will see BLOCK and be undone), so each value read is >= that thread's real
 *    holdings at the end of the scan; a sum of 0 means no reader holds the lock.
 *  - reader critical sections vs writer critical sections: the reader's last access precedes its
 *    counter update (plain + grace period, or SC sub), which the writer observes before it returns;
 *    the writer's writes precede its Atomics.store(BLOCK, 0) (slow readers load BLOCK) and its
 *    rcu_sync_exit grace period (fast readers), as in the kernel's W_R/R_W comment.
 *
 * Stuck writers (the PercpuRwSem side of mutex.ts's "stuck grant"): an async write() holding BLOCK
 * while it waits for readers to leave can go on only when its thread runs its event loop. If that
 * thread is blocked in a quiesce wait elsewhere (slot OFFLINE), readers queued on BLOCK could wait
 * for a writer that cannot run, and a reader the blocked thread waits for could never get in: a
 * deadlock no lock order explains. So an async writer takes BLOCK marked DRAINING, and a slow-path
 * reader that finds BLOCK = owner|DRAINING with the owner OFFLINE enters anyway (writerStuck). The
 * writer, once its readers are gone, clears DRAINING (Atomics.store: only BLOCK's holder writes it)
 * and sums the counts AGAIN; if a reader came in meanwhile it sets DRAINING back and keeps waiting.
 * Dekker once more: a reader that entered did add(read_count) then load(BLOCK) -> DRAINING, so
 * that load precedes the writer's store clearing DRAINING, and the writer's second sum sees the
 * increment. A writer that holds the lock (DRAINING clear), and any writeSync() (it runs as soon
 * as it is woken), keeps readers out as before. Readers already queued notice at the end of their
 * wait slice (READ_SLICE_MS). A thread blocked in its own Atomics.wait looks busy: not covered.
 *
 * Thread death: counters of a dead thread stay in the sum (its reads are never released): a writer
 * waits for them until its timeout, whose error names them. A writer that dies holding BLOCK is
 * released by the death handler (like a robust futex: the protected data may be inconsistent).
 * A writer that dies anywhere between rcu_sync_enter and rcu_sync_exit (holding BLOCK, or still
 * waiting for it, for readers or for the grace period) would keep readers on the slow path for
 * good: the handler calls rcu_sync_exit once per enter recorded in its PRW_PC_RSYNC word (each
 * exit decrements the word, so a handler cut short and run again does the rest exactly). The
 * grace period that takes rcu_sync back to idle then needs nobody else: rcu_sync queues its
 * callback on the handling thread, or on the next live writer or slow-path reader (rcu-sync.ts).
 *
 * lockdep: readers hold the class as 'read' (non-recursive, like the kernel's percpu_down_read);
 * the writer takes it as 'write' before rcu_sync_enter: the wait for readers IS the acquisition.
 * Certain self-deadlocks (writeSync or readSync while this thread holds the lock in a way the call
 * would wait for; either while BLOCK holds this thread's slot without a write guard here: a
 * suspended async write() of this thread owns it) throw ERR_DEADLOCK instead of blocking forever.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { onThreadDeath } from '../domain/core.js';
import { Kind, PRW_BLOCK, PRW_PC_READ, PRW_PC_RSYNC, PRW_READER_EVENTS, PRW_RSYNC, ThreadState, percpuWord } from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, runAsync, runSync, timeoutError, type WaitOptions, type WaitProgram } from '../domain/wait.js';
import { ld, type AcquireOptions, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import { GpEngine } from '../rcu/gp.js';
import type { Rcu } from '../rcu/rcu.js';
import { doubleUnlockError, notOwnerError } from './guard.js';
import { claimHandoffSlot, makeHandoffToken, takeHandoffToken, type Handoff, type HandoffToken } from './handoff.js';
import { GP_IDLE, GP_PASSED, RcuSync } from './rcu-sync.js';

/** BLOCK = writer's slot+1 | DRAINING while an async writer waits for readers (header, "Stuck writers"). */
const DRAINING = 1 << 20;
const BLOCK_SLOT = DRAINING - 1;
/** Sleep slice of a queued reader: how soon it notices a writer whose thread blocked elsewhere. */
const READ_SLICE_MS = 200;

onThreadDeath(Kind.PercpuRwSem, (core, slot, _name, obj, pcpu) => {
  const h = obj >> 2;
  const i32 = core.i32;
  const b = Atomics.load(i32, h + PRW_BLOCK);
  if ((b & BLOCK_SLOT) === slot + 1 && Atomics.compareExchange(i32, h + PRW_BLOCK, b, 0) === b) {
    Atomics.notify(i32, h + PRW_BLOCK);
  }
  // Its rcu_sync_exits will never run: do them on its behalf, once per enter it recorded in its
  // per-thread area (a writer holding BLOCK, or still waiting for BLOCK, readers or its grace
  // period). rcu_sync_func's callback is queued on this thread if it is a live one (not the dying
  // thread running its own handlers: its callbacks never run); if not, or if the dead thread had
  // it queued, the next live exit() or slow-path reader's poll() queues it (rcu-sync.ts header).
  // Run again after a partial run (terminate() cut the dying thread's own run short): the mirror
  // word counts the exits still owed, and each exit() decrements it together with gp_count (in
  // one locked section, mirror first), so none is lost and none is done twice; BLOCK is a CAS.
  const call = core.attached && core.slot !== slot ? core.rcuCall : null;
  const mirror = percpuWord(core.g, slot, pcpu) + PRW_PC_RSYNC;
  if (Atomics.load(i32, mirror) > 0 || call !== null) {
    // (This engine only snapshots and checks: the grace period is driven by call().)
    const rs = new RcuSync(core, new GpEngine(core, () => false), call, h + PRW_RSYNC, mirror);
    while (Atomics.load(i32, mirror) > 0) rs.exit();
    if (call !== null) rs.poll(); // a callback the dead thread had queued is lost: queue it here
  }
  Atomics.add(i32, h + PRW_READER_EVENTS, 1); // a waiting writer re-scans (and can name the dead)
  Atomics.notify(i32, h + PRW_READER_EVENTS);
});

/** Per-thread read counts that do not net to zero, for timeout reports. */
export interface ReaderReport {
  thread: number;
  threadId: number;
  alive: boolean;
  count: number;
}

const HELD = 0;
const RELEASED = 1;
const MOVED = 2;

/**
 * The guard state machine of locks/guard.ts (held -> released | moved; dispose is a no-op once not
 * held), written out here with a numeric state: the read pair is this primitive's whole point, and
 * a lean class keeps tryRead()+unlock() within a few plain accesses (see bench/locks.ts).
 */
function endHold(state: number, what: string, op: string): void {
  if (state === RELEASED) throw doubleUnlockError(what, op);
  if (state === MOVED) throw notOwnerError(what, `${op} on a guard whose hold was moved away (handoff() or downgrade())`);
}

/** A held read side of a PercpuRwSem (SPEC §5 ReadGuard). */
export class PercpuReadGuard {
  private state = HELD;
  /** @internal */
  constructor(
    private readonly sem: PercpuRwSem,
    private readonly h: HeldLock | null,
  ) {
    if (h !== null) ld.track(this, h);
  }
  get held(): boolean {
    return this.state === HELD;
  }
  unlock(): void {
    if (this.state !== HELD) endHold(this.state, describe('PercpuRwSem', this.sem.name), 'unlock()');
    this.state = RELEASED;
    const sem = this.sem;
    const i32 = sem.i32;
    if (!ld.on && i32[sem.stateWord] === GP_IDLE) {
      sem.localReads--; // percpu_up_read fast path, inlined
      i32[sem.myRead]!--;
    } else {
      sem.upRead(this.h);
    }
  }
  /** Hand the read side to another context/thread: adopt the token there with domain.adopt(token). */
  handoff(): Handoff {
    if (this.state !== HELD) endHold(this.state, describe('PercpuRwSem', this.sem.name), 'handoff()');
    const slot = claimHandoffSlot(this.sem.core, describe('PercpuRwSem', this.sem.name));
    this.state = MOVED;
    return this.sem.handoffRead(this.h, slot);
  }
  [Symbol.dispose](): void {
    if (this.state === HELD) this.unlock();
  }
}

/** The held write side of a PercpuRwSem (SPEC §5 WriteGuard). */
export class PercpuWriteGuard {
  private state = HELD;
  /** @internal */
  constructor(
    private readonly sem: PercpuRwSem,
    private readonly h: HeldLock | null,
  ) {
    if (h !== null) ld.track(this, h);
  }
  get held(): boolean {
    return this.state === HELD;
  }
  unlock(): void {
    if (this.state !== HELD) endHold(this.state, describe('PercpuRwSem', this.sem.name), 'unlock()');
    this.state = RELEASED;
    this.sem.upWrite(this.h);
  }
  /** Become a reader without letting a writer in between (downgrade_write). */
  downgrade(): PercpuReadGuard {
    if (this.state !== HELD) endHold(this.state, describe('PercpuRwSem', this.sem.name), 'downgrade()');
    this.state = MOVED;
    return this.sem.downgrade(this.h);
  }
  [Symbol.dispose](): void {
    if (this.state === HELD) this.unlock();
  }
}

export class PercpuRwSem {
  readonly lockdepClass: LockClass;
  /** @internal */ readonly rs: RcuSync;
  /** @internal */ readonly i32: Int32Array;
  private readonly h: number;
  /** @internal */ readonly stateWord: number;
  /** @internal */ readonly myRead: number;
  /** @internal Read sides held on THIS thread by guards (any async task): for ERR_DEADLOCK. */
  localReads = 0;
  private localWrites = 0;

  /**
   * @internal Domain.detach(): how this thread holds the semaphore ('held for write' / 'for read'),
   * or null. A write() still waiting counts too: it has entered rcu_sync and may hold BLOCK, and
   * only a DEAD thread's are undone (the death handler), never a FREE slot's.
   */
  heldHere(): string | null {
    if (this.localWrites > 0) return 'held for write';
    if (this.localReads > 0) return 'held for read';
    return this.rs.enteredHere() > 0 ? 'waited for by a pending async write()' : null; // writers holding or waiting
  }
  private readonly tryOpts: AcquireOptions;
  private readonly syncOpts: AcquireOptions;
  private readonly asyncOpts: AcquireOptions;

  /** @internal — use `domain.percpuRwsem(name)`. */
  constructor(
    /** @internal */ readonly core: DomainCore,
    readonly name: string,
    private readonly cls: string,
    obj: number,
    private readonly pcpu: number,
    private readonly rcu: Rcu,
  ) {
    this.i32 = core.i32;
    this.h = obj >> 2;
    this.rs = new RcuSync(core, rcu.gp, (fn) => rcu.call(fn), this.h + PRW_RSYNC, percpuWord(core.g, core.slot, pcpu) + PRW_PC_RSYNC);
    this.stateWord = this.rs.stateWord;
    this.myRead = percpuWord(core.g, core.slot, pcpu) + PRW_PC_READ;
    this.lockdepClass = ld.classFor(cls);
    this.tryOpts = { wait: 'none', try: true, instance: this };
    this.syncOpts = { wait: 'sync', instance: this };
    this.asyncOpts = { wait: 'async', instance: this };
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('PercpuRwSem', this.name));
  }

  // ---- read side ------------------------------------------------------------------------------------

  /** percpu_down_read_trylock without lockdep or guard. */
  private downReadTrylock(): boolean {
    const i32 = this.i32;
    if (i32[this.stateWord] === GP_IDLE) {
      i32[this.myRead]!++;
      return true;
    }
    return this.downReadSlow();
  }

  private downReadSlow(): boolean {
    const i32 = this.i32;
    if (this.rs.poll() === false && i32[this.stateWord] === GP_IDLE) {
      i32[this.myRead]!++; // an exit's grace period had passed: back on the fast path
      return true;
    }
    Atomics.add(i32, this.myRead, 1);
    const b = Atomics.load(i32, this.h + PRW_BLOCK);
    if (b === 0 || this.writerStuck(b)) return true;
    Atomics.sub(i32, this.myRead, 1);
    this.wakeWriter();
    return false;
  }

  /** BLOCK `b` is an async writer's that waits for readers while its thread is blocked elsewhere (header). */
  private writerStuck(b: number): boolean {
    return (b & DRAINING) !== 0 && this.core.threads.blockedInWait((b & BLOCK_SLOT) - 1);
  }

  private wakeWriter(): void {
    const w = this.h + PRW_READER_EVENTS;
    Atomics.add(this.i32, w, 1);
    Atomics.notify(this.i32, w);
  }

  private readGuard(h: HeldLock | null): PercpuReadGuard {
    this.localReads++;
    return new PercpuReadGuard(this, h);
  }

  /** Take the read side if no writer holds or waits for it; null otherwise. Never waits. */
  tryRead(): PercpuReadGuard | null {
    const i32 = this.i32;
    // core.attached: after detach() the per-thread word may belong to the slot's next thread.
    if (i32[this.stateWord] === GP_IDLE && this.core.attached) {
      const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.tryOpts) : null;
      i32[this.myRead]!++;
      this.localReads++;
      return new PercpuReadGuard(this, h);
    }
    this.core.checkAttached(this.what);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.tryOpts) : null;
    if (this.downReadSlow()) return this.readGuard(h);
    ld.abandon(h);
    return null;
  }

  /**
   * The slow half of percpu_down_read, as a wait program (domain/wait.ts): queue while a writer
   * holds BLOCK. `sync`: the thread will block, so first refuse a wait that could never end.
   */
  private *downReadWait(op: string, sync: boolean, timeoutMs: number | undefined): WaitProgram<void> {
    for (;;) {
      const b = Atomics.load(this.i32, this.h + PRW_BLOCK);
      if (b === 0 || this.writerStuck(b)) {
        if (this.downReadTrylock()) return;
        continue;
      }
      if (sync) this.checkReadDeadlock(b);
      if ((yield { index: this.h + PRW_BLOCK, value: b, sliceMs: READ_SLICE_MS }) === 'timed-out') {
        if (this.downReadTrylock()) return;
        throw timeoutError(this.what, op, timeoutMs, { writer: (b & BLOCK_SLOT) - 1 });
      }
    }
  }

  /** percpu_down_read: waits (without blocking the thread) while a writer holds the lock. */
  async read(o?: WaitOptions): Promise<PercpuReadGuard> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'read()', signal);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.asyncOpts) : null;
    if (this.downReadTrylock()) return this.readGuard(h);
    try {
      await runAsync(this.i32, this.downReadWait('read()', false, timeoutMs), new Deadline(timeoutMs), signal, () => abortedError(this.what, 'read()', signal));
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return this.readGuard(h);
  }

  /** Blocking percpu_down_read. ERR_DEADLOCK if the writer it would wait for waits for this thread. */
  readSync(o?: WaitOptions): PercpuReadGuard {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'readSync()', signal);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.syncOpts) : null;
    if (this.downReadTrylock()) return this.readGuard(h);
    try {
      runSync(this.i32, this.downReadWait('readSync()', true, timeoutMs), new Deadline(timeoutMs));
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return this.readGuard(h);
  }

  private checkReadDeadlock(block: number): void {
    if (this.localWrites > 0) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: readSync() while this thread holds it for write (it could never be released)`);
    }
    if ((block & BLOCK_SLOT) === this.core.slot + 1) {
      // No write guard here, yet BLOCK is this thread's: a suspended async write() of this thread
      // holds it. It can go on (and release BLOCK) only once this thread returns to the event loop.
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: readSync() while a suspended async write() of this thread holds it (it could never be released)`);
    }
    if (this.localReads > 0 && block !== 0) {
      throw new QuiesceError(
        'ERR_DEADLOCK',
        `${this.what}: readSync() while this thread holds a read of it and a writer (thread ${(block & BLOCK_SLOT) - 1}) waits for that read to end`,
      );
    }
  }

  /** @internal percpu_up_read (from a guard). */
  upRead(h: HeldLock | null): void {
    this.localReads--;
    if (ld.on) ld.release(h);
    const i32 = this.i32;
    if (i32[this.stateWord] === GP_IDLE) {
      i32[this.myRead]!--;
      return;
    }
    Atomics.sub(i32, this.myRead, 1);
    this.wakeWriter();
  }

  /**
   * @internal A read guard hands its read side off. The +1 stays in this thread's counter; the
   * adopter's unlock will be a -1 in ITS counter: the per-thread counters are only parts of a sum,
   * and the sum is still exactly the number of read sides held.
   */
  handoffRead(h: HeldLock | null, slot: number): Handoff {
    this.localReads--;
    return { token: makeHandoffToken(this.core, 'PercpuRwSem', this.name, this.cls, h, slot) };
  }

  /** Take over a read side handed off by another context or thread (domain.adopt dispatches here). */
  adoptHandoff(token: HandoffToken): PercpuReadGuard {
    this.core.checkAttached(this.what);
    takeHandoffToken(this.core, token, 'PercpuRwSem', this.name, this.what);
    const h = ld.on && token.lockdep ? ld.adopt(token.lockdep, this) : null;
    return this.readGuard(h);
  }

  // ---- write side -------------------------------------------------------------------------------------

  /** Sum of every thread's read_count (dead threads included: their reads are still held). */
  private readersActive(): number {
    const { core, i32 } = this;
    let sum = 0;
    for (let t = 0; t < core.g.maxThreads; t++) sum = (sum + Atomics.load(i32, percpuWord(core.g, t, this.pcpu) + PRW_PC_READ)) | 0;
    return sum;
  }

  /** Threads whose read counts do not net to zero (a report; handed-off reads show where they began). */
  readers(): ReaderReport[] {
    const { core, i32 } = this;
    const out: ReaderReport[] = [];
    for (let t = 0; t < core.g.maxThreads; t++) {
      const count = Atomics.load(i32, percpuWord(core.g, t, this.pcpu) + PRW_PC_READ);
      if (count !== 0) out.push({ thread: t, threadId: core.threads.threadId(t), alive: core.threads.state(t) !== ThreadState.DEAD, count });
    }
    return out;
  }

  private drainTimeout(op: string, timeoutMs: number | undefined): QuiesceError {
    const readers = this.readers();
    const list = readers.map((r) => `${this.core.threads.describe(r.thread)}: ${r.count}`).join(', ');
    const e = timeoutError(this.what, op, timeoutMs, { readers });
    return new QuiesceError('ERR_TIMEOUT', `${e.message.replace(/ \[ERR_TIMEOUT\]$/, '')} waiting for readers (${list || 'none left'})`, { readers });
  }

  private releaseBlock(): void {
    Atomics.store(this.i32, this.h + PRW_BLOCK, 0);
    Atomics.notify(this.i32, this.h + PRW_BLOCK);
  }

  private checkWriteDeadlock(): void {
    if (this.localReads > 0 || this.localWrites > 0) {
      throw new QuiesceError(
        'ERR_DEADLOCK',
        `${this.what}: writeSync() while this thread holds it for ${this.localWrites > 0 ? 'write' : 'read'} (the writer would wait for itself)`,
      );
    }
    // BLOCK held by this thread but no write guard here: a suspended async write() of this thread
    // holds it (draining readers). It can only go on once this thread returns to the event loop.
    if ((Atomics.load(this.i32, this.h + PRW_BLOCK) & BLOCK_SLOT) === this.core.slot + 1) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: writeSync() while a suspended async write() of this thread holds it (the writer would wait for itself)`);
    }
  }

  /**
   * Take BLOCK (CAS 0 -> slot+1, | DRAINING for an async writer still to wait for readers): the
   * percpu_down_write trylock; returns what BLOCK held (0: taken).
   */
  private takeBlock(draining = 0): number {
    return Atomics.compareExchange(this.i32, this.h + PRW_BLOCK, 0, (this.core.slot + 1) | draining);
  }

  /**
   * percpu_down_write as a wait program: a grace period (rcu_sync_enter), then BLOCK, then wait
   * for the readers to leave. Each step undoes itself if a later one times out or is aborted.
   */
  private *downWrite(op: string, timeoutMs: number | undefined, async: boolean): WaitProgram<void> {
    const i32 = this.i32;
    const drain = async ? DRAINING : 0;
    if (!(yield* this.rs.enter())) throw timeoutError(this.what, op, timeoutMs, { phase: 'grace period' });
    try {
      // Only our own successful CAS makes BLOCK ours: BLOCK names a thread, not a task, so
      // seeing our slot there may mean another async task of this thread holds it.
      for (;;) {
        const b = this.takeBlock(drain);
        if (b === 0) break;
        if ((yield { index: this.h + PRW_BLOCK, value: b }) === 'timed-out') {
          if (this.takeBlock(drain) === 0) break;
          throw timeoutError(this.what, op, timeoutMs, { phase: 'writer', writer: (b & BLOCK_SLOT) - 1 });
        }
      }
      try {
        for (;;) {
          const ev = Atomics.load(i32, this.h + PRW_READER_EVENTS);
          if (this.readersActive() === 0) {
            if (!async) break;
            // Held from here on: clear DRAINING, then sum again (header, "Stuck writers").
            Atomics.store(i32, this.h + PRW_BLOCK, this.core.slot + 1);
            if (this.readersActive() === 0) break;
            Atomics.store(i32, this.h + PRW_BLOCK, (this.core.slot + 1) | DRAINING); // a reader came in while we could not run
          }
          if ((yield { index: this.h + PRW_READER_EVENTS, value: ev }) === 'timed-out' && this.readersActive() !== 0) {
            throw this.drainTimeout(op, timeoutMs);
          }
        }
      } catch (e) {
        this.releaseBlock();
        throw e;
      }
    } catch (e) {
      this.rs.exit();
      throw e;
    }
  }

  /** percpu_down_write, without blocking the thread. */
  async write(o?: WaitOptions): Promise<PercpuWriteGuard> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'write()', signal);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.asyncOpts) : null;
    try {
      await runAsync(this.i32, this.downWrite('write()', timeoutMs, true), new Deadline(timeoutMs), signal, () => abortedError(this.what, 'write()', signal));
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    this.localWrites++;
    return new PercpuWriteGuard(this, h);
  }

  /** Blocking percpu_down_write. ERR_DEADLOCK if this thread holds the lock (read or write). */
  writeSync(o?: WaitOptions): PercpuWriteGuard {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'writeSync()', signal);
    this.checkWriteDeadlock();
    if (this.rcu.inReadSection) throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: writeSync() inside an RCU read section would wait for itself`);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.syncOpts) : null;
    try {
      runSync(this.i32, this.downWrite('writeSync()', timeoutMs, false), new Deadline(timeoutMs));
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    this.localWrites++;
    return new PercpuWriteGuard(this, h);
  }

  /** Take the write side only if that needs no waiting at all (no grace period, no readers). */
  tryWrite(): PercpuWriteGuard | null {
    this.core.checkAttached(this.what);
    // Without a grace period readers may still be on the fast path, unless rcu_sync already says
    // "passed" (another writer is between enter and exit, or one exited less than a GP ago).
    if (Atomics.load(this.i32, this.stateWord) < GP_PASSED) return null;
    if (Atomics.load(this.i32, this.h + PRW_BLOCK) !== 0) return null;
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.tryOpts) : null;
    if (!runSync(this.i32, this.rs.enter(), new Deadline(0))) {
      ld.abandon(h);
      return null;
    }
    if (this.takeBlock() !== 0) {
      this.rs.exit();
      ld.abandon(h);
      return null;
    }
    if (this.readersActive() !== 0) {
      this.releaseBlock();
      this.rs.exit();
      ld.abandon(h);
      return null;
    }
    this.localWrites++;
    return new PercpuWriteGuard(this, h);
  }

  /** @internal percpu_up_write (from a guard). */
  upWrite(h: HeldLock | null): void {
    this.localWrites--;
    if (ld.on) ld.release(h);
    this.releaseBlock();
    this.rs.exit();
  }

  /** @internal Turn the held write side into a read side without letting another writer in between. */
  downgrade(h: HeldLock | null): PercpuReadGuard {
    Atomics.add(this.i32, this.myRead, 1); // a reader now, before BLOCK opens
    this.localWrites--;
    this.releaseBlock();
    this.rs.exit();
    if (ld.on) ld.release(h);
    const rh = ld.on ? ld.acquire(this.lockdepClass, 'read', this.tryOpts) : null;
    return this.readGuard(rh);
  }

  /** True while a writer holds (or is draining readers for) the lock. */
  isWriteLocked(): boolean {
    return Atomics.load(this.i32, this.h + PRW_BLOCK) !== 0;
  }
}
