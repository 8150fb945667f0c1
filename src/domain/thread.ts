/*
 * This thread's side of every domain it is attached to: the extended quiescent state.
 *
 * A thread parked in Atomics.wait cannot run its event loop, so it can never answer a grace
 * period's request for a quiescent state. Like liburcu's rcu_thread_offline(), every blocking wait
 * inside quiesce brackets itself with goOffline()/goOnline(): while offline the thread's slot says
 * OFFLINE and grace periods do not wait for it.
 *
 * Memory model (the liburcu QSBR online/offline argument): the thread's store of ONLINE and the GP
 * driver's load of the slot state are both Atomics (sequentially consistent). If the driver reads
 * OFFLINE, the thread's later store of ONLINE follows the driver's start of the grace period in the
 * SC order, so every read section the thread begins afterwards sees what the updater published
 * before calling synchronize(); such readers need not be waited for.
 *
 * A thread inside an RCU read section does NOT go offline (that would let a grace period end under
 * the reader); blocking there is the user's bug, reported by lockdep as 'invalid-wait'.
 */
import { ThreadState } from './layout.js';

/** What a domain registers for this thread while it is attached. */
export interface AttachedSlot {
  readonly i32: Int32Array;
  readonly stateIndex: number; // word of this thread's slot state
  readonly qsEventsIndex: number; // the domain's QS-event word (GP drivers wait on it)
  /** True while this thread is inside an RCU read section of that domain. */
  inReadSection(): boolean;
  /** Nesting of goOffline() calls that actually took the slot offline. */
  offlineDepth: number;
}

const attached = new Set<AttachedSlot>();

export function registerAttached(s: AttachedSlot): void {
  attached.add(s);
}
export function unregisterAttached(s: AttachedSlot): void {
  attached.delete(s);
}

export function goOffline(): void {
  for (const s of attached) {
    if (s.offlineDepth > 0) {
      s.offlineDepth++;
      continue;
    }
    if (s.inReadSection()) continue; // stay online: see header
    if (Atomics.compareExchange(s.i32, s.stateIndex, ThreadState.ONLINE, ThreadState.OFFLINE) === ThreadState.ONLINE) {
      s.offlineDepth = 1;
      Atomics.add(s.i32, s.qsEventsIndex, 1);
      Atomics.notify(s.i32, s.qsEventsIndex);
    }
  }
}

export function goOnline(): void {
  for (const s of attached) {
    if (s.offlineDepth === 0) continue;
    if (--s.offlineDepth === 0) {
      Atomics.compareExchange(s.i32, s.stateIndex, ThreadState.OFFLINE, ThreadState.ONLINE);
    }
  }
}
