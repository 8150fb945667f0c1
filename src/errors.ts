/*
 * QuiesceError: the one error type quiesce throws.
 *
 * Every error carries a stable `code` (the strings below never change meaning; new ones may be
 * added) and a message that names the object involved ("Mutex 'db'") and what was wrong. Callers
 * branch on `code`, never on the message.
 */

export type QuiesceErrorCode =
  // domain (SPEC §1)
  | 'ERR_KIND_MISMATCH'
  | 'ERR_OUT_OF_SHARED_MEMORY'
  | 'ERR_DOMAIN_FULL'
  | 'ERR_NOT_ATTACHED'
  | 'ERR_BAD_HANDLE'
  // waiting (SPEC §2)
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_DOUBLE_UNLOCK'
  | 'ERR_NOT_OWNER'
  | 'ERR_DEADLOCK'
  // rcu (SPEC §3)
  | 'ERR_RCU_MISUSE'
  // percpu_ref (SPEC §4)
  | 'ERR_REFCOUNT_UNDERFLOW'
  | 'ERR_REFCOUNT_OVERFLOW'
  | 'ERR_ALREADY_DYING'
  | 'ERR_USE_AFTER_EXIT'
  | 'ERR_NOT_DYING'
  // lockdep (SPEC §6)
  | 'ERR_LOCKDEP'
  // bad arguments anywhere
  | 'ERR_INVALID_ARG';

export class QuiesceError extends Error {
  readonly code: QuiesceErrorCode;
  /** Extra structured detail (e.g. which threads still hold references after a timed-out drain). */
  readonly details?: unknown;

  constructor(code: QuiesceErrorCode, message: string, details?: unknown) {
    super(`${message} [${code}]`);
    this.name = 'QuiesceError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** "Mutex 'db'" — how every message names an object. */
export function describe(kind: string, name: string): string {
  return `${kind} '${name}'`;
}

export function invalidArg(what: string, why: string): QuiesceError {
  return new QuiesceError('ERR_INVALID_ARG', `${what}: ${why}`);
}
