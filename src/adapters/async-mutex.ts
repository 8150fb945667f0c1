/*
 * lockdep for existing async-mutex users: `instrument(mutex, 'name')`.
 *
 * async-mutex (npm) is the most common async lock in Node code; its users get timeouts and
 * nothing else. instrument() patches ONE instance in place (the same object is returned, so no
 * call site changes) so that every acquisition goes through lockdep as class `name`:
 *
 *   acquire()/runExclusive()  ld.acquire(cls, mode, { wait: 'async' }) BEFORE the original acquire
 *                             (so a cycle is reported, or thrown with action 'throw', before the
 *                             task waits); ld.abandon() if the acquire is cancelled or fails;
 *   the releaser / release()  ld.release() of that acquisition, then the original release.
 *
 * The patched acquire is an async function that calls lockdep synchronously first: that makes its
 * own result promise the carrier of the held lock, so the task that awaits it holds the lock and
 * its siblings do not (see lockdep/context.ts). A Mutex (or a Semaphore of one permit) is a
 * writer; a Semaphore of more permits is a non-recursive reader (several holders at once, and a
 * cycle through it can still deadlock once the permits run out).
 *
 * There is no runtime dependency on async-mutex: the adapter is structural.
 */
import { QuiesceError } from '../errors.js';
import { ld, type HeldLock, type LockClass } from '../lockdep/hooks.js';

type Releaser = () => void;

/** The parts of async-mutex's Mutex the adapter uses. */
export interface AsyncMutexLike {
  acquire(...args: any[]): Promise<Releaser>;
  runExclusive<T>(cb: () => Promise<T> | T, ...args: any[]): Promise<T>;
  release(): void;
}
/** The parts of async-mutex's Semaphore the adapter uses. */
export interface AsyncSemaphoreLike {
  acquire(...args: any[]): Promise<[number, Releaser]>;
  runExclusive<T>(cb: (value: number) => Promise<T> | T, ...args: any[]): Promise<T>;
  release(weight?: number): void;
  getValue(): number;
}

const INSTRUMENTED = Symbol.for('quiesce.instrumented');

export type Instrumented<T> = T & { readonly lockdepClass: LockClass };

export function instrument<T extends AsyncMutexLike | AsyncSemaphoreLike>(lock: T, name: string): Instrumented<T> {
  if (lock === null || typeof lock !== 'object' || typeof (lock as AsyncMutexLike).acquire !== 'function' || typeof (lock as AsyncMutexLike).runExclusive !== 'function') {
    throw new QuiesceError('ERR_INVALID_ARG', `instrument(lock, '${String(name)}'): lock must be an async-mutex Mutex or Semaphore`);
  }
  if (typeof name !== 'string' || name.length === 0) throw new QuiesceError('ERR_INVALID_ARG', 'instrument(lock, name): name must be a non-empty string');
  const target = lock as T & { [INSTRUMENTED]?: string };
  if (target[INSTRUMENTED] !== undefined) {
    if (target[INSTRUMENTED] === name) return target as Instrumented<T>;
    throw new QuiesceError('ERR_KIND_MISMATCH', `instrument(lock, '${name}'): already instrumented as '${target[INSTRUMENTED]}'`);
  }
  // Mutex or Semaphore? Not from the presence of getValue(): async-mutex's withTimeout() and
  // tryAcquire() wrappers always have one, and on a wrapped Mutex it throws a TypeError. So ask it
  // guarded (only a Semaphore answers with a number), and shape each result after the ticket the
  // original acquire resolves with: a Semaphore's is [value, release], a Mutex's a release function.
  let permits: unknown;
  try {
    const getValue = (lock as Partial<AsyncSemaphoreLike>).getValue;
    if (typeof getValue === 'function') permits = getValue.call(lock);
  } catch {
    // a wrapped Mutex: permits stays undefined
  }
  const mode = typeof permits === 'number' && permits > 1 ? 'read' : 'write';
  const cls = ld.classFor(name);
  const held: HeldLock[] = []; // acquisitions not yet released, oldest first (for release() without a releaser)

  const origAcquire = lock.acquire.bind(lock) as (...a: unknown[]) => Promise<unknown>;
  const origRelease = lock.release.bind(lock) as (...a: unknown[]) => void;

  // async-mutex's Semaphore releaser calls `this.release(weight)` on the instance, i.e. our patched
  // release() below: while a releaser runs, that call must not drop another acquisition's hold.
  let inReleaser = 0;
  const callReleaser = (release: Releaser): void => {
    inReleaser++;
    try {
      release();
    } finally {
      inReleaser--;
    }
  };

  const track = (h: HeldLock | null): (() => void) => {
    if (h) held.push(h);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (h) {
        const i = held.indexOf(h);
        if (i >= 0) held.splice(i, 1);
        ld.release(h);
      }
    };
  };

  async function acquire(...args: unknown[]): Promise<unknown> {
    const h = ld.on ? ld.acquire(cls, mode, { wait: 'async', instance: lock }) : null;
    let r: unknown;
    try {
      r = await origAcquire(...args);
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    const forget = track(h);
    if (Array.isArray(r)) {
      const [value, release] = r as [number, Releaser];
      return [value, () => (forget(), callReleaser(release))];
    }
    const release = r as Releaser;
    return () => (forget(), callReleaser(release));
  }

  async function runExclusive(cb: (value?: number) => unknown, ...args: unknown[]): Promise<unknown> {
    const r = await acquire(...args);
    const [value, release] = Array.isArray(r) ? (r as [number, Releaser]) : [undefined, r as Releaser];
    try {
      return await cb(value);
    } finally {
      release();
    }
  }

  function release(...args: unknown[]): void {
    const h = inReleaser > 0 ? undefined : held.shift();
    if (h) ld.release(h);
    origRelease(...args);
  }

  Object.defineProperties(lock, {
    acquire: { value: acquire, configurable: true, writable: true },
    runExclusive: { value: runExclusive, configurable: true, writable: true },
    release: { value: release, configurable: true, writable: true },
    lockdepClass: { value: cls, configurable: true },
    [INSTRUMENTED]: { value: name, configurable: true },
  });
  return lock as Instrumented<T>;
}
