/*
 * Waiting: the one convention every primitive uses (SPEC §2).
 *
 * Every wait is "wait until this Int32 word of the shared buffer no longer holds `expected`", the
 * futex idiom. The caller re-checks its own condition after every wake-up, so spurious wake-ups,
 * notify storms and missed slices are all harmless.
 *
 *  - blocking form: Atomics.wait in slices. While blocked the thread is offline for RCU (an
 *    extended quiescent state, see domain/thread.ts): a thread parked inside quiesce never holds
 *    up a grace period.
 *  - async form: Atomics.waitAsync in slices of at most SLICE_MS. A pending waitAsync does not keep
 *    the event loop alive (nodejs/node#44729), so every pending async wait holds a ref'd keep-alive
 *    timer. Abort rejects at once; the orphaned waitAsync expires at the end of its slice, so an
 *    abandoned wait leaves nothing behind for longer than SLICE_MS and never holds a resource (the
 *    caller's own bookkeeping, e.g. a waiter count, is undone by the caller).
 *
 * Wait programs: a primitive writes its waiting logic ONCE, as a generator that yields the word
 * to sleep on ({ index, value }) and receives how the sleep ended ('woken' | 'timed-out');
 * runSync() drives it with blockOn, runAsync() with waitOn. Abort is thrown INTO the program
 * (generator.throw), so its own try/catch/finally undoes whatever it had done, exactly as on
 * timeout. This keeps the blocking and the async form of every wait identical by construction.
 *
 * Memory model: Atomics.notify/wait carry no ordering of their own; ordering comes from the
 * Atomics store that changed the word (writer) and the Atomics load of the re-check (waiter).
 */
import { QuiesceError } from '../errors.js';
import { goOffline, goOnline } from './thread.js';

export interface WaitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

const SLICE_MS = 1000;

/** ERR_INVALID_ARG unless timeoutMs is undefined or a number >= 0 (Infinity: no deadline). */
function checkTimeout(timeoutMs: unknown): void {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) {
    throw new QuiesceError('ERR_INVALID_ARG', `timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
  }
}

/** An absolute deadline derived from `timeoutMs` (Infinity if none). */
export class Deadline {
  readonly at: number;
  constructor(timeoutMs: number | undefined) {
    checkTimeout(timeoutMs);
    this.at = timeoutMs === undefined || timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  }
  remaining(): number {
    return this.at === Infinity ? Infinity : Math.max(0, this.at - performance.now());
  }
  expired(): boolean {
    return this.at !== Infinity && performance.now() >= this.at;
  }
}

export type WakeResult = 'woken' | 'timed-out';

/**
 * Block the thread until i32[index] !== expected (or a wake-up, or the deadline, or one slice).
 * Returns 'timed-out' only if the deadline has passed.
 */
export function blockOn(i32: Int32Array, index: number, expected: number, deadline: Deadline, sliceMs = SLICE_MS): WakeResult {
  const ms = Math.min(deadline.remaining(), sliceMs);
  goOffline();
  try {
    Atomics.wait(i32, index, expected, ms);
  } finally {
    goOnline();
  }
  return deadline.expired() ? 'timed-out' : 'woken';
}

// ---- keep the event loop alive while async waits are pending ----------------------------------
let keepAliveCount = 0;
let keepAliveTimer: ReturnType<typeof setInterval> | undefined;

export function holdEventLoop(): void {
  if (keepAliveCount++ === 0) keepAliveTimer = setInterval(() => {}, 1 << 30);
}
export function releaseEventLoop(): void {
  if (--keepAliveCount === 0 && keepAliveTimer !== undefined) {
    clearInterval(keepAliveTimer);
    keepAliveTimer = undefined;
  }
}

const ABORTED = Symbol('aborted');

/**
 * Await until i32[index] !== expected (or a wake-up, or the deadline, or one slice).
 * Resolves 'timed-out' once the deadline has passed; rejects with `abortError()` on abort.
 * The caller holds the event loop (holdEventLoop) across its whole wait loop.
 */
export async function waitOn(
  i32: Int32Array,
  index: number,
  expected: number,
  deadline: Deadline,
  signal: AbortSignal | undefined,
  abortError: () => Error,
  sliceMs = SLICE_MS,
): Promise<WakeResult> {
  if (signal?.aborted) throw abortError();
  const ms = Math.min(deadline.remaining(), sliceMs);
  const r = Atomics.waitAsync(i32, index, expected, ms);
  if (r.async) {
    if (signal) {
      let onAbort!: () => void;
      const aborted = new Promise<typeof ABORTED>((resolve) => {
        onAbort = () => resolve(ABORTED);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        if ((await Promise.race([r.value, aborted])) === ABORTED) throw abortError();
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    } else {
      await r.value;
    }
  } else {
    // 'not-equal' or an immediate 'timed-out': yield once so a waiter loop can never starve the loop.
    await Promise.resolve();
  }
  return deadline.expired() ? 'timed-out' : 'woken';
}

/** The standard errors, naming the object. */
export function timeoutError(what: string, op: string, timeoutMs: number | undefined, details?: unknown): QuiesceError {
  return new QuiesceError('ERR_TIMEOUT', `${what}: ${op} timed out after ${timeoutMs} ms`, details);
}
export function abortedError(what: string, op: string, signal?: AbortSignal): QuiesceError {
  const reason = signal?.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new QuiesceError('ERR_ABORTED', `${what}: ${op} was aborted${reason}`);
}

/** Validate the options bag of a wait. */
export function checkWaitOptions(o: WaitOptions | undefined): WaitOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new QuiesceError('ERR_INVALID_ARG', 'wait options must be an object');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new QuiesceError('ERR_INVALID_ARG', 'options.signal must be an AbortSignal');
  }
  // Checked here, with the signal, so that a bad timeout throws before the call changes anything
  // (PercpuRef.killAndDrain used to kill the ref first, then build the Deadline that rejects it).
  checkTimeout(o.timeoutMs);
  return o;
}

// ---- wait programs ----------------------------------------------------------------------------------

/** One sleep of a wait program: until i32[index] !== value, a wake-up, the deadline or `sliceMs`. */
export interface Sleep {
  index: number;
  value: number;
  sliceMs?: number;
}

/** A wait written once for both forms: yields sleeps, receives how each ended, returns a result. */
export type WaitProgram<T> = Generator<Sleep, T, WakeResult>;

/** Run a wait program blocking the thread (offline for RCU while asleep). */
export function runSync<T>(i32: Int32Array, program: WaitProgram<T>, deadline: Deadline): T {
  let step = program.next(undefined as never);
  while (!step.done) {
    const s = step.value;
    step = program.next(blockOn(i32, s.index, s.value, deadline, s.sliceMs));
  }
  return step.value;
}

/** Run a wait program without blocking the thread; abort is thrown into the program. */
export async function runAsync<T>(
  i32: Int32Array,
  program: WaitProgram<T>,
  deadline: Deadline,
  signal: AbortSignal | undefined,
  abortError: () => Error,
): Promise<T> {
  holdEventLoop();
  try {
    let step = program.next(undefined as never);
    while (!step.done) {
      const s = step.value;
      let woke: WakeResult;
      try {
        woke = await waitOn(i32, s.index, s.value, deadline, signal, abortError, s.sliceMs);
      } catch (e) {
        step = program.throw(e); // the program cleans up (and normally rethrows)
        continue;
      }
      step = program.next(woke);
    }
    return step.value;
  } finally {
    releaseEventLoop();
  }
}
