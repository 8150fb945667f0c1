/*
 * quiesce: the Linux kernel's object-lifetime and locking machinery for Node.js.
 * See README.md for the guide and SPEC-level semantics of every export.
 */
export { QuiesceError, type QuiesceErrorCode } from './errors.js';
export { Domain, type DomainHandle, type DomainOptions, type LockOptions } from './domain/domain.js';
export { type WaitOptions } from './domain/wait.js';
export { Rcu } from './rcu/rcu.js';
export { Srcu } from './rcu/srcu.js';
