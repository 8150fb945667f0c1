/*
 * Completion: "wait until somebody says it is done", across threads and async tasks, with lockdep
 * tracking of the wait (kernel/sched/completion.c; seed 004's "naked completions").
 *
 * Shared state (layout.ts COMPLETION_*):
 *   DONE     the kernel's x->done: complete() adds one (saturating at ALL - 1), completeAll() stores
 *            ALL (the kernel's UINT_MAX: every present and future waiter passes until reinit()).
 *            A waiter consumes one "done" with compareExchange(v -> v - 1), or passes if v == ALL.
 *   WAITERS  sleepers currently registered; complete*() only notifies when it is non-zero.
 *
 * complete() adds one done and wakes ALL sleepers (they race to consume; the losers sleep again).
 * Waking all rather than one means a wake-up can never be swallowed by an async waiter whose thread is
 * blocked, or by a waiter that is timing out: nobody is left asleep while a "done" is available, and
 * a timed-out waiter consumes nothing (it only consumes with a successful compareExchange).
 *
 * Memory model: a waiter registers (Atomics.add WAITERS) then re-reads DONE before sleeping on it;
 * complete() updates DONE then reads WAITERS. Both are SC Atomics, so either the waiter sees the new
 * DONE or the completer sees the waiter and notifies (Dekker); the futex wait with the expected DONE
 * value closes the remaining window. Everything the completer wrote before complete() happens-before
 * the waiter's successful consume (Atomics on DONE on both sides).
 *
 * lockdep: the completion is a pseudo-lock whose class is the completion's. A Signaller holds it as
 * a non-recursive reader ('read') from signaller() until complete()/dispose; wait*() records
 * ld.waitFor(class) before waiting ("I wait for everyone inside the class"). So
 * "wait on C while holding L" (L -> C) plus "a signaller of C takes L" (C -> L) is a cycle, found
 * the first time both orders are seen, whether or not it ever hangs.
 */
import { describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { COMPLETION_DONE, COMPLETION_WAITERS } from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, timeoutError, type WaitOptions, runAsync, runSync, type WaitProgram } from '../domain/wait.js';
import { ld, type HeldLock, type LockClass } from '../lockdep/hooks.js';

const ALL = 0x7fffffff;
const SLICE_MS = 1000;

/** "This context will complete the completion": a lockdep section, ended by complete*() or dispose. */
export class Signaller {
  #held: HeldLock | null;
  #open = true;
  /** @internal */
  constructor(
    private readonly c: Completion,
    held: HeldLock | null,
  ) {
    this.#held = held;
    // No ld.track: a signaller is a wait:'none' hold, which held-at-exit tracking never registers.
  }
  private end(): void {
    if (!this.#open) return;
    this.#open = false;
    ld.release(this.#held);
    this.#held = null;
  }
  /** Complete (one waiter) and end the signaller section. */
  complete(): void {
    this.end();
    this.c.complete();
  }
  /** Complete for every waiter and end the signaller section. */
  completeAll(): void {
    this.end();
    this.c.completeAll();
  }
  /** End the section without completing (e.g. the work failed and somebody else will complete). */
  [Symbol.dispose](): void {
    this.end();
  }
}

export class Completion {
  private readonly i32: Int32Array;
  private readonly doneW: number;
  private readonly waitersW: number;
  readonly lockdepClass: LockClass;

  /** @internal — use `domain.completion(name)`. */
  constructor(
    private readonly core: DomainCore,
    readonly name: string,
    cls: string,
    obj: number,
  ) {
    this.i32 = core.i32;
    this.doneW = (obj >> 2) + COMPLETION_DONE;
    this.waitersW = (obj >> 2) + COMPLETION_WAITERS;
    this.lockdepClass = ld.classFor(cls);
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('Completion', this.name));
  }

  /** @internal for tests and diagnostics. */
  debugState(): { done: number | 'all'; waiters: number } {
    const d = Atomics.load(this.i32, this.doneW);
    return { done: d === ALL ? 'all' : d, waiters: Atomics.load(this.i32, this.waitersW) };
  }

  /** Consume one "done" (try_wait_for_completion). */
  private consume(): boolean {
    const { i32, doneW } = this;
    for (;;) {
      const v = Atomics.load(i32, doneW);
      if (v === ALL) return true;
      if (v === 0) return false;
      if (Atomics.compareExchange(i32, doneW, v, v - 1) === v) return true;
    }
  }

  private wake(): void {
    if (Atomics.load(this.i32, this.waitersW) > 0) Atomics.notify(this.i32, this.doneW);
  }

  /** Mark one "done": the first waiter (present or future) to consume it passes. */
  complete(): void {
    this.core.checkAttached(this.what);
    const { i32, doneW } = this;
    for (;;) {
      const v = Atomics.load(i32, doneW);
      if (v >= ALL - 1) break; // completeAll()'d (or saturated): stays done
      if (Atomics.compareExchange(i32, doneW, v, v + 1) === v) break;
    }
    this.wake();
  }

  /** Done for everyone, now and until reinit(). */
  completeAll(): void {
    this.core.checkAttached(this.what);
    Atomics.store(this.i32, this.doneW, ALL);
    this.wake();
  }

  /** Back to "not done" (reinit_completion). Only sensible when nobody waits. */
  reinit(): void {
    this.core.checkAttached(this.what);
    Atomics.store(this.i32, this.doneW, 0);
  }

  /** Consume a "done" if there is one, without waiting. */
  tryWait(): boolean {
    this.core.checkAttached(this.what);
    return this.consume();
  }

  /** Announce that the calling context will complete this completion (lockdep). */
  signaller(): Signaller {
    this.core.checkAttached(this.what);
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', { wait: 'none', instance: this }) : null;
    return new Signaller(this, h);
  }

  private beforeWait(kind: 'sync' | 'async', op: string): void {
    this.core.checkAttached(this.what);
    if (ld.on) ld.waitFor(this.lockdepClass, kind, `${this.what}.${op}`, this);
  }

  /** Wait for one "done" (or for completeAll), consuming it. */
  async wait(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    if (signal?.aborted) throw abortedError(this.what, 'wait()', signal);
    const deadline = new Deadline(timeoutMs);
    this.beforeWait('async', 'wait()');
    if (this.consume()) return;
    await runAsync(this.i32, this.waitDone('wait()', timeoutMs), deadline, signal, () => abortedError(this.what, 'wait()', signal));
  }

  /** Blocking wait(); `signal` is checked between slices. */
  waitSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    if (signal?.aborted) throw abortedError(this.what, 'waitSync()', signal);
    const deadline = new Deadline(timeoutMs);
    this.beforeWait('sync', 'waitSync()');
    if (this.consume()) return;
    runSync(this.i32, this.waitDone('waitSync()', timeoutMs, signal), deadline);
  }

  /**
   * The wait itself (a wait program, domain/wait.ts): counted in WAITERS while it sleeps so that
   * complete() knows to wake; the count is restored however the wait ends.
   */
  private *waitDone(op: string, timeoutMs: number | undefined, signal?: AbortSignal): WaitProgram<void> {
    const { i32, doneW, waitersW } = this;
    Atomics.add(i32, waitersW, 1);
    try {
      for (;;) {
        if (this.consume()) return;
        if (Atomics.load(i32, doneW) !== 0) continue;
        const r = yield { index: doneW, value: 0, sliceMs: SLICE_MS };
        if (signal?.aborted) throw abortedError(this.what, op, signal);
        if (r === 'timed-out') {
          if (this.consume()) return;
          throw timeoutError(this.what, op, timeoutMs);
        }
      }
    } finally {
      Atomics.sub(i32, waitersW, 1);
    }
  }
}
