/*
 * Rcu: the domain's RCU, one per domain (per thread: each thread has its own Rcu view).
 *
 * Read side (the urcu-qsbr read side): readLock()/readUnlock() only count this thread's nesting in
 * a plain field. No shared memory is touched: a reader is protected because this thread will not
 * acknowledge a grace period (rcu/gp.ts) until it is back at the event loop, and read sections are
 * synchronous. Cost: one increment, one decrement and two well-predicted branches.
 *
 * Quiescent-state reporting: each thread keeps one Atomics.waitAsync pending on its own T_QS_REQ
 * word. A GP driver's store+notify of that word resolves it; V8 delivers the resolution as a task
 * of this thread's event loop, i.e. only after the synchronous code running now has returned: the
 * quiescent state. The handler stores T_QS_ACK (see gp.ts for the memory-model pairing).
 * rcu.quiescentState() reports one by hand from inside a long synchronous loop.
 *
 * Misuse (ERR_RCU_MISUSE): the first readLock of a section queues (once per turn) a microtask
 * that checks the nesting. Microtasks run only after the current synchronous run ends, so a
 * section still open then is one that spans a turn (an `await`, a callback). It is reported
 * (process warning + lockdep 'rcu-misuse'); its thread does not acknowledge grace periods until
 * the section closes (the reader stays protected), and the readUnlock that closes it throws
 * ERR_RCU_MISUSE. synchronize*() inside a read section throws ERR_RCU_MISUSE instead of
 * deadlocking. getState() and call() are legal inside a read section and start driving a grace
 * period at once; that grace period counts this thread's open section like any other thread's
 * (gp.ts: the driver asks and waits for its own thread while it is inside a reader), so it cannot
 * end, nor pollState() turn true, before the section closes.
 *
 * After domain.detach() the thread's slot is FREE and no grace period waits for it, so readLock()
 * refuses with ERR_NOT_ATTACHED; it checks in queueCheck(), which detach() forces the next
 * outermost readLock() through (detached()), so the check costs the read side nothing.
 */
import { QuiesceError } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { T_CB_DONE, T_CB_QUEUED, T_QS_ACK, T_QS_REQ, slotWord } from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, timeoutError, type WaitOptions } from '../domain/wait.js';
import { ld, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import { CallbackQueue } from './callbacks.js';
import { GpEngine } from './gp.js';

export class Rcu {
  /** Read-side nesting on this thread (plain field: only this thread reads or writes it). */
  private nesting = 0;
  /** A check microtask is queued for this turn. */
  private checkQueued = false;
  /** Something must happen when the outermost section closes (misuse, deferred QS ack). */
  private deferred = false;
  private crossedTurn = false;
  private readonly held: (HeldLock | null)[] = [];
  private lastReq: number;
  private readonly reqWord: number;
  private readonly ackWord: number;
  /** @internal */ readonly gp: GpEngine;
  private readonly callbacks: CallbackQueue;
  /** lockdep: readers hold this class as recursive readers; synchronize() "takes" it for write. */
  readonly lockdepClass: LockClass;
  private readonly cbClass: LockClass;
  /**
   * lockdep's flag object, reached through a field: an imported binding is a live module
   * variable, and loading it on every read-side call costs more than the rest of the call.
   */
  private readonly ld = ld;

  /** @internal — use `domain.rcu`. */
  constructor(private readonly core: DomainCore) {
    this.gp = new GpEngine(core, () => this.nesting > 0);
    this.reqWord = slotWord(core.g, core.slot, T_QS_REQ);
    this.ackWord = slotWord(core.g, core.slot, T_QS_ACK);
    this.lastReq = Atomics.load(core.i32, this.reqWord);
    // A (re)claimed slot starts having acknowledged everything requested so far.
    Atomics.store(core.i32, this.ackWord, this.lastReq);
    this.lockdepClass = ld.classFor('rcu_read_lock');
    this.cbClass = ld.classFor('rcu_callback');
    this.callbacks = new CallbackQueue(
      core,
      { snap: () => this.gp.snap(), done: (s) => this.gp.done(s), waitFor: (s) => this.waitFor(s, new Deadline(undefined), undefined, false, 'call') },
      (t) => slotWord(core.g, t, T_CB_QUEUED),
      (t) => slotWord(core.g, t, T_CB_DONE),
      (fn) => this.invokeCallback(fn),
    );
    this.arm();
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= `Rcu of domain '${this.core.name}'`);
  }

  // ---- read side --------------------------------------------------------------------------------

  readLock(): void {
    if (this.nesting++ === 0 && !this.checkQueued) this.queueCheck();
    if (this.ld.on) this.lockdepEnter();
  }

  readUnlock(): void {
    if (this.ld.on) this.lockdepExit();
    if (--this.nesting === 0) {
      if (this.deferred) this.sectionClosed();
    } else if (this.nesting < 0) {
      this.nesting = 0;
      throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: readUnlock() without a matching readLock()`);
    }
  }

  // Out of line, so the two methods above stay small enough to inline into the caller's loop.
  private lockdepEnter(): void {
    this.held.push(ld.acquire(this.lockdepClass, 'recursive-read', { wait: 'none', instance: this, waitContext: 'rcu' }));
  }
  private lockdepExit(): void {
    if (this.nesting > 0) ld.release(this.held.pop() ?? null);
  }

  /** Run `fn` inside a read section. `fn` must be synchronous (use Srcu for sections that await). */
  read<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: read(fn): fn must be a function`);
    this.readLock();
    let r: T;
    try {
      r = fn();
    } finally {
      this.readUnlock();
    }
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      throw new QuiesceError(
        'ERR_RCU_MISUSE',
        `${this.what}: read(fn) got a promise back; RCU read sections are synchronous (use an Srcu for sections that await)`,
      );
    }
    return r;
  }

  /**
   * @internal domain.detach(): the slot is freed, so a read section here would no longer hold up
   * grace periods. The next outermost readLock() goes through queueCheck(), which throws
   * ERR_NOT_ATTACHED: the refusal costs the read side nothing.
   */
  detached(): void {
    this.callbacks.leave(); // (still attached here: the slot is freed right after)
    this.checkQueued = false;
  }

  /** True while this thread is inside a read section. */
  get inReadSection(): boolean {
    return this.nesting > 0;
  }

  private queueCheck(): void {
    if (!this.core.attached) {
      this.nesting = 0; // refused: no section was entered (see detached())
      this.core.checkAttached(this.what);
    }
    this.checkQueued = true;
    queueMicrotask(() => {
      this.checkQueued = false;
      if (this.nesting > 0 && !this.crossedTurn) {
        this.crossedTurn = true;
        this.deferred = true;
        this.reportMisuse('an RCU read section is still open when its thread returned to the event loop (it spans an await or a callback)');
      }
    });
  }

  private reportMisuse(why: string): void {
    const err = new QuiesceError('ERR_RCU_MISUSE', `${this.what}: ${why}`);
    process.emitWarning(err.message, { code: 'ERR_RCU_MISUSE', type: 'QuiesceWarning' });
    if (ld.on) ld.report('rcu-misuse', [this.lockdepClass.name], `WARNING: suspicious RCU usage\n${err.message}\n`);
  }

  private sectionClosed(): void {
    this.deferred = false;
    this.ackIfRequested();
    if (this.crossedTurn) {
      this.crossedTurn = false;
      throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: this read section spanned a return to the event loop`);
    }
  }

  // ---- quiescent states -------------------------------------------------------------------------

  private arm(): void {
    if (!this.core.attached) return;
    const r = Atomics.waitAsync(this.core.i32, this.reqWord, this.lastReq);
    if (r.async) void r.value.then(this.onRequest);
    else queueMicrotask(this.onRequest);
  }

  private readonly onRequest = (): void => {
    if (!this.core.attached) return;
    this.lastReq = Atomics.load(this.core.i32, this.reqWord);
    if (this.nesting === 0) this.ack(this.lastReq);
    else this.deferred = true; // acknowledged when the section closes
    this.arm();
  };

  private ack(v: number): void {
    const i32 = this.core.i32;
    Atomics.store(i32, this.ackWord, v);
    this.gp.kick(); // wake the driver(s) asleep on QS_EVENTS
  }

  private ackIfRequested(): void {
    const req = Atomics.load(this.core.i32, this.reqWord);
    if (req !== Atomics.load(this.core.i32, this.ackWord)) this.ack(req);
  }

  /** Report a quiescent state now (call it from long synchronous loops outside read sections). */
  quiescentState(): void {
    if (this.nesting === 0 && this.core.attached) this.ackIfRequested();
  }

  // ---- update side --------------------------------------------------------------------------------

  private notInReader(op: string): void {
    this.core.checkAttached(this.what);
    if (this.nesting > 0) {
      throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: ${op} called inside an RCU read section would wait for itself`);
    }
  }

  private async waitFor(s: number, deadline: Deadline, signal: AbortSignal | undefined, expedited: boolean, op: string, timeoutMs?: number): Promise<void> {
    // Aborted already (before the call, or while synchronize() waited for its batch): reject
    // before driving anything, as the blocking form throws (SPEC §2: nothing was acquired).
    if (signal?.aborted) throw abortedError(this.what, op, signal);
    const ok = await this.gp.waitAsync(s, deadline, signal, () => abortedError(this.what, op, signal), expedited);
    if (!ok) throw timeoutError(this.what, op, timeoutMs);
  }

  /** Wait for a full grace period: every read section that began before this call has ended. */
  async synchronize(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.notInReader('synchronize()');
    if (ld.on) ld.waitFor(this.lockdepClass, 'async', 'rcu.synchronize()', this);
    const deadline = new Deadline(timeoutMs);
    const s = this.gp.snap();
    // Let every caller of this turn snapshot before a driver starts: they all share one GP.
    await new Promise<void>((r) => setImmediate(r));
    await this.waitFor(s, deadline, signal, false, 'synchronize()', timeoutMs);
  }

  /** Like synchronize(), but starts driving at once instead of batching with this turn's callers. */
  async synchronizeExpedited(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.notInReader('synchronizeExpedited()');
    if (ld.on) ld.waitFor(this.lockdepClass, 'async', 'rcu.synchronizeExpedited()', this);
    await this.waitFor(this.gp.snap(), new Deadline(timeoutMs), signal, true, 'synchronizeExpedited()', timeoutMs);
  }

  /** Blocking synchronize(). The thread is offline while it waits; `signal` is checked before blocking. */
  synchronizeSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.notInReader('synchronizeSync()');
    if (signal?.aborted) throw abortedError(this.what, 'synchronizeSync()', signal);
    if (ld.on) ld.waitFor(this.lockdepClass, 'sync', 'rcu.synchronizeSync()', this);
    if (!this.gp.waitSync(this.gp.snap(), new Deadline(timeoutMs))) throw timeoutError(this.what, 'synchronizeSync()', timeoutMs);
  }

  /** Run `fn` on this thread after a grace period (call_rcu). Exceptions surface as uncaught. */
  call(fn: () => void): void {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: call(fn) needs a function`);
    this.core.checkAttached(this.what);
    this.callbacks.push(fn);
  }

  /** @internal Callbacks queued on this thread that have not run yet. */
  get pendingCallbacks(): number {
    return this.callbacks.pending;
  }

  /**
   * @internal domain.detach(): run this thread's pending callbacks now, blocking (offline) for
   * their grace periods (rcu/callbacks.ts header).
   */
  drainCallbacksSync(): void {
    if (this.callbacks.pending === 0) return;
    if (ld.on) ld.waitFor(this.lockdepClass, 'sync', 'domain.detach() (pending rcu.call() callbacks)', this);
    this.callbacks.drainSync((s) => void this.gp.waitSync(s, new Deadline(undefined)));
  }

  private invokeCallback(fn: () => void): void {
    const h = ld.on ? ld.acquire(this.cbClass, 'recursive-read', { wait: 'none', instance: this }) : null;
    try {
      fn();
    } finally {
      ld.release(h);
    }
  }

  /** Wait until every call() queued before this, on any thread of the domain, has run (rcu_barrier). */
  async barrier(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.notInReader('barrier()');
    if (signal?.aborted) throw abortedError(this.what, 'barrier()', signal);
    if (ld.on) ld.waitFor(this.cbClass, 'async', 'rcu.barrier()', this);
    const ok = await this.callbacks.barrier(new Deadline(timeoutMs), signal, () => abortedError(this.what, 'barrier()', signal));
    if (!ok) throw timeoutError(this.what, 'barrier()', timeoutMs);
  }

  /**
   * A cookie for polled grace periods (get_state_synchronize_rcu + start_poll): also makes sure a
   * grace period that will satisfy it gets driven, so pollState() turns true without other help.
   */
  getState(): number {
    this.core.checkAttached(this.what);
    const s = this.gp.snap();
    void this.gp.waitAsync(s, new Deadline(undefined), undefined, () => new Error('unreachable')).catch(() => {});
    return s;
  }

  /** True once a full grace period has elapsed since getState() returned `cookie`. */
  pollState(cookie: number): boolean {
    if (!Number.isInteger(cookie)) throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: pollState(cookie) needs a cookie from getState()`);
    return this.gp.done(cookie);
  }

  /** Statistics: grace periods completed in this domain (all threads), of which expedited. */
  get stats(): { gracePeriods: number; expedited: number; pendingCallbacks: number } {
    return { gracePeriods: this.gp.completed(), expedited: this.gp.expedited(), pendingCallbacks: this.callbacks.pending };
  }
}
