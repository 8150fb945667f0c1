/*
 * rcu_seq: the kernel's grace-period sequence numbers (kernel/rcu/rcu.h), on an Int32 that wraps.
 *
 * The low bit says "a grace period is in progress"; the rest counts grace periods. A caller that
 * needs a full grace period to elapse from now takes a snapshot `s = snap(seq)` and is done once
 * `done(seq, s)`: if idle (even) the next GP ends at seq+2; if one is running (odd) it may have
 * started before the caller's update, so the caller needs the one after it, ending at seq+3 & ~1.
 * Every caller asking while the same GP is pending gets the same `s`: that is the batching that
 * lets a thousand concurrent synchronize() calls share a couple of grace periods.
 *
 * Wrap-around (the kernel's rcu_seq_done_exact()): a wrap-safe compare alone reads a snapshot
 * older than 2^30 grace periods (a polled cookie kept for hours, a callback of a thread blocked
 * that long) as in the future again, not done until the sequence comes round once more: a cookie
 * that was done would read false for hours, and its waiter would drive 2^30 grace periods back
 * to back. But no snapshot is ever more than 3 ahead of the sequence (snap() gives at most
 * seq + 3, and seq only grows), so one that compares as further ahead is one the sequence has
 * lapped: it is done. (Only a snapshot within 2 of a full lap, 2^31 grace periods, reads wrong.)
 * done() is for snapshots only: words that may lag without bound (a thread's ack) are compared
 * exactly (rcu/gp.ts allQuiescent()).
 */
export const snap = (seq: number): number => ((seq + 3) & ~1) | 0;
/** Wrap-safe "seq has reached s", for a snapshot `s` taken with snap(). */
export const done = (seq: number, s: number): boolean => ((seq - s) | 0) >= 0 || ((s - seq) | 0) > 3;
export const inProgress = (seq: number): boolean => (seq & 1) === 1;
