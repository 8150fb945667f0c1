/*
 * rcu_seq: the kernel's grace-period sequence numbers (kernel/rcu/rcu.h), on an Int32 that wraps.
 *
 * The low bit says "a grace period is in progress"; the rest counts grace periods. A caller that
 * needs a full grace period to elapse from now takes a snapshot `s = snap(seq)` and is done once
 * `done(seq, s)`: if idle (even) the next GP ends at seq+2; if one is running (odd) it may have
 * started before the caller's update, so the caller needs the one after it, ending at seq+3 & ~1.
 * Every caller asking while the same GP is pending gets the same `s`: that is the batching that
 * lets a thousand concurrent synchronize() calls share a couple of grace periods.
 */
export const snap = (seq: number): number => ((seq + 3) & ~1) | 0;
/** Wrap-safe "seq has reached s". */
export const done = (seq: number, s: number): boolean => ((seq - s) | 0) >= 0;
export const inProgress = (seq: number): boolean => (seq & 1) === 1;
