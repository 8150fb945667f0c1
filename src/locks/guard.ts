/*
 * Guard: the ownership record every lock-like primitive hands back (MutexGuard, ReadGuard,
 * WriteGuard; reusable for Access).
 *
 * A guard is a tiny state machine, local to the context that holds it (it is never shared between
 * threads; a read side crosses threads as a HandoffToken, locks/handoff.ts):
 *
 *     held --unlock()/release()--> released          a second unlock: ERR_DOUBLE_UNLOCK
 *     held --handoff()/downgrade()--> moved          unlock of a moved guard: ERR_NOT_OWNER
 *
 * `[Symbol.dispose]()` releases a guard that is still held and is a no-op otherwise, so
 * `using g = m.lockSync(); ... g.unlock();` and `using g = rw.readSync(); send(g.handoff().token);`
 * both leave scope cleanly (the same rule as a moved-from Rust guard). Only an explicit second
 * unlock()/release() is an error.
 *
 * Subclasses pass lockdep's record of the hold to the constructor and implement `releaseHeld()`
 * (the primitive's real unlock). `endHold()` flips the state BEFORE calling it, so an unlock that
 * throws half-way can never be retried into a double release.
 */
import { QuiesceError } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { ld, type HeldLock } from '../lockdep/hooks.js';
import { claimHandoffSlot } from './handoff.js';

export type GuardState = 'held' | 'released' | 'moved';

export function doubleUnlockError(what: string, op: string): QuiesceError {
  return new QuiesceError('ERR_DOUBLE_UNLOCK', `${what}: ${op} on a guard that was already released`);
}

export function notOwnerError(what: string, why: string): QuiesceError {
  return new QuiesceError('ERR_NOT_OWNER', `${what}: ${why}`);
}

export abstract class Guard {
  #state: GuardState = 'held';

  /**
   * `held`: lockdep's record of the hold (null with lockdep off). The guard is the only way to
   * release it, so lockdep tracks the guard: one that is dropped while held is 'held-at-exit'.
   */
  constructor(held: HeldLock | null) {
    if (held !== null) ld.track(this, held);
  }

  /** Names the object in error messages ("Mutex 'db'"). */
  protected abstract get what(): string;
  /** Release what this guard holds (called exactly once, after the state left 'held'). */
  protected abstract releaseHeld(): void;

  /** True while this guard still owns what it was created for. */
  get held(): boolean {
    return this.#state === 'held';
  }

  /** Leave the 'held' state for `next`, or throw ERR_DOUBLE_UNLOCK / ERR_NOT_OWNER for `op`. */
  protected endHold(op: string, next: 'released' | 'moved'): void {
    const s = this.#state;
    if (s === 'released') throw doubleUnlockError(this.what, op);
    if (s === 'moved') throw notOwnerError(this.what, `${op} on a guard whose hold was moved away (handoff() or downgrade())`);
    this.#state = next;
  }

  /**
   * The first half of every read-side handoff(): claim a handoff-table word in `core`'s domain,
   * THEN leave 'held' for 'moved'. If the table is full (ERR_OUT_OF_SHARED_MEMORY) nothing has
   * moved and the guard can still be unlocked. Returns the word (-1 if the guard is not held:
   * endHold then throws).
   */
  protected moveOut(core: DomainCore): number {
    const slot = this.#state === 'held' ? claimHandoffSlot(core, this.what) : -1;
    this.endHold('handoff()', 'moved');
    return slot;
  }

  /** Release (the shared body of unlock() and release()). */
  protected end(op: string): void {
    this.endHold(op, 'released');
    this.releaseHeld();
  }

  [Symbol.dispose](): void {
    if (this.#state === 'held') this.end('[Symbol.dispose]()');
  }
}
