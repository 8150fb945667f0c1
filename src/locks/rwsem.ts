/*
 * RwSem: a write-favoring reader/writer semaphore shared by threads and async tasks
 * (kernel/locking/rwsem.c), whose read side can be handed to another context (seed 003).
 *
 * Shared state (layout.ts RWSEM_*): one count word, like the kernel's sem->count, that packs
 *
 *     bits  0..17  readers holding it                (READER_MASK; 262143 at most)
 *     bit   18     WRITER_LOCKED
 *     bits 19..30  writers waiting for it             (WWAIT unit; 4095 at most)
 *
 * and RWSEM_OWNER, the slot+1 of the thread holding it for write (diagnostics and ERR_DEADLOCK only;
 * the count word alone decides who may enter).
 *
 * Every transition is one compareExchange on the count word, so a decision and the state it was
 * based on can never diverge:
 *   read:   enter (count + 1) only if neither WRITER_LOCKED nor any waiting writer: once a writer
 *           waits, new readers wait behind it (write-favoring; the kernel reaches the same end with
 *           RWSEM_FLAG_HANDOFF, here it is the rule from the start, which is what a "fence every reader
 *           then destroy" writer needs: readers can never starve it).
 *   write:  enter (| WRITER_LOCKED) when no reader and no writer holds it. A writer that must wait
 *           first registers (+ WWAIT) and later converts its registration into the lock in the same
 *           compareExchange (- WWAIT | WRITER_LOCKED); on timeout/abort it takes the registration back
 *           (Atomics.sub) and wakes everyone, since readers may have been waiting only because of it.
 *   unlock: a reader subtracts 1 and wakes sleepers when it was the last reader and a writer waits;
 *           a writer clears WRITER_LOCKED and wakes all sleepers (readers and writers re-check).
 *   downgrade: WRITER_LOCKED -> one reader in one compareExchange; wakes sleepers.
 * Sleepers sleep on the count word expecting the value they last saw (futex), in slices, so a wake
 * that raced with their decision is never lost. Wake-all on every release that can unblock
 * somebody: an async waiter's wake-up can never be swallowed by a blocked thread or an aborted waiter.
 *
 * Handoff (seed 003 "exit reader" / "re-enter reader"): RwSemReadGuard.handoff() leaves the count alone —
 * the read side stays held, writers keep waiting — claims a handoff-table word (locks/handoff.ts)
 * and only then detaches the guard (and the lockdep hold): a claim that fails (table full,
 * ERR_OUT_OF_SHARED_MEMORY) leaves the guard held. adoptHandoff(token) redeems the word exactly once
 * and returns a new RwSemReadGuard owned by the adopting context, on any thread.
 *
 * Self-deadlocks that are certain throw ERR_DEADLOCK instead of blocking: writeSync while this thread
 * holds it (read or write, in any of its contexts); readSync while this thread holds it for write,
 * or holds a read while a writer waits (the writer waits for our read, our read waits for the writer),
 * or while an async write() of this thread waits (counted in WWAIT, it keeps every reader out, and it
 * can neither take the lock nor give up while this thread is blocked).
 * `localReads` counts the read sides held by contexts of this thread (handoff moves the count);
 * `localWaitingWriters` the writers of this thread counted in WWAIT (registerWriter until the
 * registration is converted into the lock or taken back).
 *
 * Stuck writers (the RwSem side of mutex.ts's "stuck grant"): an async write() can take the lock only
 * when its thread runs its event loop. While that thread is blocked in a quiesce wait elsewhere (its
 * slot OFFLINE), its waiting writers cannot run, yet counted in WWAIT they would keep every new
 * reader out, so a reader that the blocked thread waits for could never get in: a deadlock no lock
 * order of the program explains. So a reader that finds waiting writers counts them per thread
 * (each thread's percpu WWAIT word says how many of its registrations are async and how many sync,
 * WWAIT_SYNC) and enters anyway when every one is an async writer of an OFFLINE thread
 * (writersStuck). Write-favoring is a policy, not exclusion (the count word alone decides that), so a
 * thread coming back online just after the check costs nothing but one reader let in ahead of its
 * writer. A writer blocked in writeSync() is OFFLINE too but runs as soon as it is woken: it keeps
 * readers out as before. A thread blocked in its own Atomics.wait (not a quiesce wait) is
 * indistinguishable from a busy one: not covered (as for the mutex). Readers already asleep notice
 * at the end of their wait slice (SLICE_MS).
 *
 * Owner death: a thread that dies holding the write side (the OWNER word names it) or read sides
 * (each thread mirrors how many it holds in its percpu READS word, written only by itself;
 * handoff moves one from the handing thread's word to the adopting thread's) has them released by
 * the onThreadDeath handler below, like a robust futex. A read side in transit (handed off, never
 * adopted) belongs to nobody and stays held. Likewise a thread that dies while WAITING to write
 * (blocked, or in a suspended async task) is still counted in WWAIT, which would keep every reader
 * out for good: each thread mirrors its registrations in its percpu WWAIT word (same rules as
 * READS) and the handler takes them back from the count word and wakes the sleepers.
 * Both mirrors are written after the count word gains and before it loses, so a thread that dies
 * between the two Atomics leaves at worst something held, never something released twice; and
 * right after it, in the same synchronous step (tryDownRead), never after an await: an async
 * read() gets in inside its wait program, microtasks before read() resumes to make the guard.
 *
 * Memory model: entering is a successful Atomics.compareExchange on the count word, leaving is an
 * Atomics.sub/compareExchange on it; both SC, so a writer's plain writes happen-before every later
 * reader's reads and every reader's reads happen-before the next writer's writes.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { onThreadDeath } from '../domain/core.js';
import { Kind, RWSEM_COUNT, RWSEM_OWNER, RWSEM_PC_READS, RWSEM_PC_WWAIT, percpuWord } from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, timeoutError, type WaitOptions, runAsync, runSync, type WaitProgram } from '../domain/wait.js';
import { ld, type AcquireOptions, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import { Guard, notOwnerError } from './guard.js';
import { makeHandoffToken, takeHandoffToken, type Handoff, type HandoffToken } from './handoff.js';

const READER_MASK = 0x3ffff;
const WRITER_LOCKED = 1 << 18;
const WWAIT = 1 << 19;
const WWAIT_MASK = 0xfff << 19;
/** A thread's percpu WWAIT word: async registrations + WWAIT_SYNC x sync ones (writeSync, at most one). */
const WWAIT_SYNC = 1 << 16;
const ASYNC_MASK = WWAIT_SYNC - 1;

// Safe to run again after a partial run (domain.ts header): each item is claimed by the CAS or
// exchange that clears its word and undone by the Atomics right after it (no call in between), so
// a second run finds the items already undone cleared and undoes only the rest.
onThreadDeath(Kind.RwSem, (core, dead, _name, obj, pcpu) => {
  const i32 = core.i32;
  const h = obj >> 2;
  // The dead thread held the write side: release it for it (like a robust futex's owner-died).
  if (Atomics.compareExchange(i32, h + RWSEM_OWNER, dead + 1, 0) === dead + 1) {
    Atomics.sub(i32, h + RWSEM_COUNT, WRITER_LOCKED);
    Atomics.notify(i32, h + RWSEM_COUNT);
  }
  // ... and its read sides (its percpu READS word: it can no longer change).
  const w = percpuWord(core.g, dead, pcpu) + RWSEM_PC_READS;
  const n = Atomics.exchange(i32, w, 0);
  if (n > 0) {
    Atomics.sub(i32, h + RWSEM_COUNT, n);
    Atomics.notify(i32, h + RWSEM_COUNT);
  }
  // ... and its registrations as a waiting writer (its percpu WWAIT word): counted, they would keep
  // every new reader out for good.
  const ww = percpuWord(core.g, dead, pcpu) + RWSEM_PC_WWAIT;
  const x = Atomics.exchange(i32, ww, 0);
  const m = (x & ASYNC_MASK) + (x >>> 16);
  if (m > 0) {
    Atomics.sub(i32, h + RWSEM_COUNT, m * WWAIT);
    Atomics.notify(i32, h + RWSEM_COUNT);
  }
});
const SLICE_MS = 200;

type Mode = 'read' | 'write';

export class RwSemReadGuard extends Guard {
  /** @internal */
  constructor(
    private readonly sem: RwSem,
    /** @internal */ public ldHeld: HeldLock | null,
  ) {
    super(ldHeld);
  }
  protected get what(): string {
    return describe('RwSem', this.sem.name);
  }
  protected releaseHeld(): void {
    this.sem.upRead(this);
  }
  unlock(): void {
    this.end('unlock()');
  }
  /**
   * Hand this read side to another context or thread: the returned token (structured-cloneable)
   * is adopted there with domain.adopt(token). This guard no longer owns anything; the read side
   * stays held (writers keep waiting) until the adopter unlocks it.
   */
  handoff(): Handoff {
    return { token: this.sem.exitReader(this, this.moveOut(this.sem.core)) };
  }
}

export class RwSemWriteGuard extends Guard {
  /** @internal */
  constructor(
    private readonly sem: RwSem,
    /** @internal */ readonly ldHeld: HeldLock | null,
  ) {
    super(ldHeld);
  }
  protected get what(): string {
    return describe('RwSem', this.sem.name);
  }
  protected releaseHeld(): void {
    this.sem.upWrite(this);
  }
  unlock(): void {
    this.end('unlock()');
  }
  /** Turn the write hold into a read hold atomically (downgrade_write): no writer can get in between. */
  downgrade(): RwSemReadGuard {
    this.endHold('downgrade()', 'moved');
    return this.sem.downgradeWrite(this);
  }
}

export class RwSem {
  private readonly i32: Int32Array;
  private readonly countW: number;
  private readonly myReadsW: number; // this thread's percpu READS word
  private readonly myWwaitW: number; // this thread's percpu WWAIT word
  private readonly ownerW: number;
  private readonly me: number;
  private readonly pcpu: number;
  /** Read sides held by contexts of this thread (ERR_DEADLOCK checks). */
  private localReads = 0;
  /** Writers of this thread registered in WWAIT (waiting async tasks; ERR_DEADLOCK checks). */
  private localWaitingWriters = 0;
  /** This thread's percpu WWAIT word as last stored: async + WWAIT_SYNC x sync registrations. */
  private wwaitWord = 0;
  readonly lockdepClass: LockClass;
  /** lockdep acquire options, built once (no allocation per acquisition). */
  private readonly ldTry: AcquireOptions = { wait: 'none', try: true, instance: this };
  private readonly ldAsync: AcquireOptions = { wait: 'async', instance: this };
  private readonly ldSync: AcquireOptions = { wait: 'sync', instance: this };

  /** @internal — use `domain.rwsem(name)`. */
  constructor(
    /** @internal */ readonly core: DomainCore,
    readonly name: string,
    private readonly cls: string,
    obj: number,
    pcpu: number,
  ) {
    this.i32 = core.i32;
    this.myReadsW = percpuWord(core.g, core.slot, pcpu) + RWSEM_PC_READS;
    this.myWwaitW = percpuWord(core.g, core.slot, pcpu) + RWSEM_PC_WWAIT;
    this.countW = (obj >> 2) + RWSEM_COUNT;
    this.ownerW = (obj >> 2) + RWSEM_OWNER;
    this.me = core.slot;
    this.pcpu = pcpu;
    this.lockdepClass = ld.classFor(cls);
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('RwSem', this.name));
  }

  /**
   * @internal Domain.detach(): how this thread holds the rwsem ('held for write' / 'for read'), or
   * null. A write() still waiting counts too: its registration in WWAIT keeps every new reader out,
   * and a FREE slot's is never taken back (only a DEAD thread's, by the death handler).
   */
  heldHere(): string | null {
    if (Atomics.load(this.i32, this.ownerW) === this.me + 1) return 'held for write';
    if (this.localReads > 0) return 'held for read';
    return this.localWaitingWriters > 0 ? 'waited for by a pending async write()' : null;
  }

  /** Count read sides this thread gains/loses, locally and in its percpu word (for the death handler). */
  private reads(delta: 1 | -1): void {
    this.localReads += delta;
    Atomics.store(this.i32, this.myReadsW, this.localReads);
  }

  /**
   * Count writers of this thread registered in WWAIT, locally and in its percpu word (for the death
   * handler and writersStuck; `unit` 1 for an async writer, WWAIT_SYNC for writeSync). Called AFTER
   * adding to the count word and BEFORE taking from it: a thread that dies in between leaves at
   * worst a registration the handler cannot see, never one it would undo twice; and a reader's
   * per-thread sum never exceeds what the count word holds (writersStuck errs towards waiting).
   */
  private waitingWriters(delta: 1 | -1, unit: number): void {
    this.localWaitingWriters += delta;
    this.wwaitWord += delta * unit;
    Atomics.store(this.i32, this.myWwaitW, this.wwaitWord);
  }

  /** Writers wait in `v` that new readers must wait behind (write-favoring): any, unless all are stuck. */
  private writersWait(v: number): boolean {
    return (v & WWAIT_MASK) !== 0 && !this.writersStuck(v);
  }

  /**
   * `v`'s waiting writers are all async writers of threads blocked in a quiesce wait (see the header,
   * "Stuck writers"): they cannot take the lock before their threads run again, so a reader need not
   * wait behind them. O(maxThreads) Atomics loads, only when writers wait.
   */
  private writersStuck(v: number): boolean {
    let n = (v & WWAIT_MASK) >>> 19;
    const { g, threads } = this.core;
    for (let t = 0; t < g.maxThreads && n > 0; t++) {
      const w = Atomics.load(this.i32, percpuWord(g, t, this.pcpu) + RWSEM_PC_WWAIT);
      if (w === 0) continue;
      if (w >= WWAIT_SYNC || !threads.blockedInWait(t)) return false; // it can run
      n -= w;
    }
    return n === 0;
  }

  /** @internal for tests and diagnostics. */
  debugState(): { readers: number; writer: boolean; writersWaiting: number; localReads: number } {
    const v = Atomics.load(this.i32, this.countW);
    return { readers: v & READER_MASK, writer: (v & WRITER_LOCKED) !== 0, writersWaiting: (v & WWAIT_MASK) >>> 19, localReads: this.localReads };
  }

  // ---- count word transitions -----------------------------------------------------------------------

  private tryDownRead(): boolean {
    const { i32, countW } = this;
    for (;;) {
      const v = Atomics.load(i32, countW);
      if ((v & WRITER_LOCKED) !== 0 || this.writersWait(v)) return false;
      if ((v & READER_MASK) === READER_MASK) throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: too many readers (${READER_MASK})`);
      if (Atomics.compareExchange(i32, countW, v, v + 1) === v) {
        // The mirror right after the gain, in the same synchronous step: an async read() gets in
        // inside its wait program and makes its guard microtasks later, and a thread terminated in
        // between must still have this read side released by the death handler.
        this.reads(1);
        return true;
      }
    }
  }

  /**
   * `unit` 0: an unregistered writer. Else this writer counts in WWAIT (registered with that unit,
   * see waitingWriters) and converts that registration into the lock.
   */
  private tryDownWrite(unit: number): boolean {
    const { i32, countW } = this;
    for (;;) {
      const v = Atomics.load(i32, countW);
      if ((v & (WRITER_LOCKED | READER_MASK)) !== 0) return false;
      const n = (unit !== 0 ? v - WWAIT : v) | WRITER_LOCKED;
      if (unit !== 0) this.waitingWriters(-1, unit); // percpu word first (see waitingWriters)
      if (Atomics.compareExchange(i32, countW, v, n) === v) {
        Atomics.store(i32, this.ownerW, this.me + 1);
        return true;
      }
      if (unit !== 0) this.waitingWriters(1, unit); // still registered: the CAS did not happen
    }
  }

  private registerWriter(unit: number): void {
    if ((Atomics.load(this.i32, this.countW) & WWAIT_MASK) === WWAIT_MASK) {
      throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: too many waiting writers`);
    }
    Atomics.add(this.i32, this.countW, WWAIT);
    this.waitingWriters(1, unit);
  }

  private unregisterWriter(unit: number): void {
    this.waitingWriters(-1, unit);
    Atomics.sub(this.i32, this.countW, WWAIT);
    Atomics.notify(this.i32, this.countW); // readers may have waited only because of us
  }

  /** @internal */
  upRead(g: RwSemReadGuard): void {
    const v = Atomics.load(this.i32, this.countW);
    if ((v & READER_MASK) === 0) throw notOwnerError(this.what, 'unlock() of a read side that is not held');
    if (ld.on) ld.release(g.ldHeld);
    this.reads(-1);
    const n = Atomics.sub(this.i32, this.countW, 1) - 1;
    if ((n & READER_MASK) === 0 && (n & WWAIT_MASK) !== 0) Atomics.notify(this.i32, this.countW);
  }

  /** @internal */
  upWrite(g: RwSemWriteGuard): void {
    const v = Atomics.load(this.i32, this.countW);
    if ((v & WRITER_LOCKED) === 0 || Atomics.load(this.i32, this.ownerW) !== this.me + 1) {
      throw notOwnerError(this.what, 'unlock() of a write side this thread does not hold');
    }
    if (ld.on) ld.release(g.ldHeld);
    Atomics.store(this.i32, this.ownerW, 0);
    Atomics.sub(this.i32, this.countW, WRITER_LOCKED);
    Atomics.notify(this.i32, this.countW);
  }

  /** @internal */
  downgradeWrite(g: RwSemWriteGuard): RwSemReadGuard {
    if (ld.on) ld.release(g.ldHeld);
    Atomics.store(this.i32, this.ownerW, 0);
    Atomics.add(this.i32, this.countW, 1 - WRITER_LOCKED); // one atomic step: writer -> reader
    Atomics.notify(this.i32, this.countW);
    this.reads(1);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.ldTry) : null;
    return new RwSemReadGuard(this, h);
  }

  /** @internal RwSemReadGuard.handoff(): the read side leaves this context (the count is untouched). */
  exitReader(g: RwSemReadGuard, slot: number): HandoffToken {
    const token = makeHandoffToken(this.core, 'RwSem', this.name, this.cls, g.ldHeld, slot);
    g.ldHeld = null;
    this.reads(-1);
    return token;
  }

  /** Take over a read side handed off by RwSemReadGuard.handoff() (usually via domain.adopt(token)). */
  adoptHandoff(token: HandoffToken): RwSemReadGuard {
    this.core.checkAttached(this.what);
    takeHandoffToken(this.core, token, 'RwSem', this.name, this.what);
    this.reads(1);
    const h = ld.on && token.lockdep ? ld.adopt(token.lockdep, this) : null;
    return new RwSemReadGuard(this, h);
  }

  // ---- public API ---------------------------------------------------------------------------------

  tryRead(): RwSemReadGuard | null {
    this.core.checkAttached(this.what);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.ldTry) : null;
    if (!this.tryDownRead()) {
      ld.abandon(h);
      return null;
    }
    return new RwSemReadGuard(this, h);
  }

  tryWrite(): RwSemWriteGuard | null {
    this.core.checkAttached(this.what);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldTry) : null;
    if (!this.tryDownWrite(0)) {
      ld.abandon(h);
      return null;
    }
    return new RwSemWriteGuard(this, h);
  }

  async read(o?: WaitOptions): Promise<RwSemReadGuard> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'read()', signal);
    const deadline = new Deadline(timeoutMs);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.ldAsync) : null;
    try {
      if (!this.tryDownRead()) await this.waitAsync('read', deadline, signal, timeoutMs);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return new RwSemReadGuard(this, h);
  }

  async write(o?: WaitOptions): Promise<RwSemWriteGuard> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'write()', signal);
    const deadline = new Deadline(timeoutMs);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldAsync) : null;
    try {
      if (!this.tryDownWrite(0)) await this.waitAsync('write', deadline, signal, timeoutMs);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return new RwSemWriteGuard(this, h);
  }

  /**
   * The slow path of read/write (a wait program, domain/wait.ts). A waiting writer is counted in
   * the word (that is what makes new readers wait: write-favoring) and uncounted however the wait
   * ends. `sync`: the thread blocks, so a read that waits for a writer that waits for this
   * thread's own read is refused (ERR_DEADLOCK); `signal` is then checked between slices.
   */
  private *down(mode: Mode, sync: boolean, signal: AbortSignal | undefined, timeoutMs: number | undefined): WaitProgram<void> {
    const op = sync ? `${mode}Sync()` : `${mode}()`;
    const writer = mode === 'write';
    const unit = sync ? WWAIT_SYNC : 1;
    if (writer) this.registerWriter(unit);
    try {
      for (;;) {
        const v = Atomics.load(this.i32, this.countW);
        if (writer ? this.tryDownWrite(unit) : this.tryDownRead()) return;
        if (sync && !writer && this.localReads > 0 && this.writersWait(v)) {
          throw new QuiesceError('ERR_DEADLOCK', `${this.what}: readSync() would wait forever: this thread holds a read side and a writer waits for it`);
        }
        const r = yield { index: this.countW, value: v, sliceMs: SLICE_MS };
        if (sync && signal?.aborted) throw abortedError(this.what, op, signal);
        if (r === 'timed-out') throw timeoutError(this.what, op, timeoutMs);
      }
    } catch (e) {
      if (writer) this.unregisterWriter(unit);
      throw e;
    }
  }

  private waitAsync(mode: Mode, deadline: Deadline, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<void> {
    return runAsync(this.i32, this.down(mode, false, signal, timeoutMs), deadline, signal, () => abortedError(this.what, `${mode}()`, signal));
  }

  private waitSync(mode: Mode, deadline: Deadline, signal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    runSync(this.i32, this.down(mode, true, signal, timeoutMs), deadline);
  }

  /** Throws ERR_DEADLOCK for a blocking acquisition this thread can never get. */
  private checkSelfDeadlock(mode: Mode): void {
    const v = Atomics.load(this.i32, this.countW);
    const iWrite = (v & WRITER_LOCKED) !== 0 && Atomics.load(this.i32, this.ownerW) === this.me + 1;
    if (iWrite) throw new QuiesceError('ERR_DEADLOCK', `${this.what}: ${mode}Sync() would wait forever: this thread holds it for write`);
    if (mode === 'write' && this.localReads > 0) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: writeSync() would wait forever: this thread holds a read side of it`);
    }
    if (mode === 'read' && this.localReads > 0 && this.writersWait(v)) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: readSync() would wait forever: this thread holds a read side and a writer waits for it`);
    }
    // A write() of this thread waits (suspended, counted in WWAIT): no reader gets in while it is
    // counted, and it can only take the lock or give up once this thread runs its event loop again.
    if (mode === 'read' && this.localWaitingWriters > 0) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: readSync() would wait forever: a suspended async write() of this thread waits for it, and readers wait behind it`);
    }
  }

  readSync(o?: WaitOptions): RwSemReadGuard {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'readSync()', signal);
    const deadline = new Deadline(timeoutMs);
    this.checkSelfDeadlock('read');
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', this.ldSync) : null;
    try {
      if (!this.tryDownRead()) this.waitSync('read', deadline, signal, timeoutMs);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return new RwSemReadGuard(this, h);
  }

  writeSync(o?: WaitOptions): RwSemWriteGuard {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (signal?.aborted) throw abortedError(this.what, 'writeSync()', signal);
    const deadline = new Deadline(timeoutMs);
    this.checkSelfDeadlock('write');
    const h = ld.on ? ld.acquire(this.lockdepClass, 'write', this.ldSync) : null;
    try {
      if (!this.tryDownWrite(0)) this.waitSync('write', deadline, signal, timeoutMs);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return new RwSemWriteGuard(this, h);
  }
}
