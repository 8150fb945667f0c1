/*
 * quiesce: the Linux kernel's object-lifetime and locking machinery for Node.js.
 * See README.md for the guide and SPEC-level semantics of every export.
 */
export { QuiesceError, type QuiesceErrorCode } from './errors.js';
export { Domain, type AdoptedReadSide, type DomainHandle, type DomainOptions, type LockOptions } from './domain/domain.js';
export { type WaitOptions } from './domain/wait.js';
export { Rcu } from './rcu/rcu.js';
export { Srcu } from './rcu/srcu.js';
export { Mutex, MutexGuard } from './locks/mutex.js';
export { RwSem, RwSemReadGuard, RwSemWriteGuard } from './locks/rwsem.js';
export { ReadGuard, WriteGuard } from './locks/rw-guards.js';
export { Completion, Signaller } from './locks/completion.js';
export { type Handoff, type HandoffToken } from './locks/handoff.js';
export { PercpuRwSem, PercpuReadGuard, PercpuWriteGuard, type ReaderReport } from './locks/percpu-rwsem.js';
export { Revocable, Access, type AccessReport } from './locks/revocable.js';
export { PercpuRef, RefGuard, type PercpuRefOptions, type RefHolder, type RefState } from './ref/percpu-ref.js';
export { lockdep, type LockdepReport, type LockClass, type LockdepEnableOptions } from './lockdep/index.js';
export { instrument, type Instrumented } from './adapters/async-mutex.js';
