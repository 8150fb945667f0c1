/*
 * ReadGuard and WriteGuard: the read and write sides of a reader-writer lock, as SPEC §5 names
 * them. RwSem and PercpuRwSem have the same surface (SPEC: "same surface as RwSem"), so these are
 * interfaces that both lock's guards implement (RwSemReadGuard / PercpuReadGuard and
 * RwSemWriteGuard / PercpuWriteGuard), and `domain.adopt(token)` returns `ReadGuard | Access`
 * whichever kind the token came from. Each name is also a value whose only use is `instanceof`:
 * `g instanceof ReadGuard` is true for the read guard of either lock.
 */
import type { Handoff } from './handoff.js';
import { PercpuReadGuard, PercpuWriteGuard } from './percpu-rwsem.js';
import { RwSemReadGuard, RwSemWriteGuard } from './rwsem.js';

/** A held (or released) read side of an RwSem or a PercpuRwSem. */
export interface ReadGuard {
  /** True while this guard still owns its read side. */
  readonly held: boolean;
  /** Release the read side (ERR_DOUBLE_UNLOCK the second time). */
  unlock(): void;
  /** Hand the read side to another context or thread: adopt the token there with domain.adopt(token). */
  handoff(): Handoff;
  [Symbol.dispose](): void;
}

/** The held (or released) write side of an RwSem or a PercpuRwSem. */
export interface WriteGuard {
  /** True while this guard still owns the write side. */
  readonly held: boolean;
  /** Release the write side (ERR_DOUBLE_UNLOCK the second time). */
  unlock(): void;
  /** Become a reader without letting a writer in between (downgrade_write). */
  downgrade(): ReadGuard;
  [Symbol.dispose](): void;
}

export const ReadGuard: { [Symbol.hasInstance](x: unknown): x is ReadGuard } = {
  [Symbol.hasInstance]: (x: unknown): x is ReadGuard => x instanceof RwSemReadGuard || x instanceof PercpuReadGuard,
};

export const WriteGuard: { [Symbol.hasInstance](x: unknown): x is WriteGuard } = {
  [Symbol.hasInstance]: (x: unknown): x is WriteGuard => x instanceof RwSemWriteGuard || x instanceof PercpuWriteGuard,
};
