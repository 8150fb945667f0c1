/*
 * call() and barrier() for RCU and SRCU: this thread's queue of callbacks waiting for a grace
 * period, and the cross-thread barrier over every thread's queue.
 *
 * Each callback records the grace-period snapshot current when it was queued; a single async loop
 * per queue waits for the oldest snapshot and then runs every callback whose grace period has
 * completed, in queue order, on this thread (like rcu_do_batch). While callbacks are pending the
 * loop keeps the event loop alive, so a worker never exits with callbacks unrun.
 *
 * Detach (the kernel's rcutree_migrate_callbacks + rcu_barrier for an offlined CPU): callbacks are
 * closures of this thread and cannot move, so domain.detach() first runs them here, blocking
 * (offline) for their grace periods: drainSync(). A detached thread's queue is therefore empty,
 * and nothing writes QUEUED/DONE once core.slot is -1 (push needs an attached thread; runDone
 * checks). detach() then stores DONE = QUEUED (leave(): a detach() from inside a callback leaves
 * its own batch uncounted otherwise), so a slot's counters always have DONE == QUEUED when it is left;
 * a new occupant also rebases DONE to QUEUED when it builds the queue (rebase()), which for an
 * Srcu it may never do: hence the first rule.
 *
 * barrier(): the queue counts callbacks in two shared words per thread, QUEUED and DONE (Atomics
 * add; DONE is notified). A barrier snapshots QUEUED of every live thread and waits until each
 * thread's DONE reaches it, or the thread is no longer ONLINE/OFFLINE: a DEAD thread's callbacks
 * will never run; a FREE one has run all of them before leaving (drainSync, then the state store).
 * The Atomics.add of DONE happens after the callbacks ran, and the barrier's Atomics.load of DONE
 * (or of the FREE state stored after it) observes it: everything the callbacks did happens-before
 * barrier() resolves. A slot reused meanwhile starts at DONE == QUEUED >= the snapshot.
 */
import type { DomainCore } from '../domain/core.js';
import { Deadline, holdEventLoop, releaseEventLoop, waitOn } from '../domain/wait.js';

export interface GpSource {
  snap(): number;
  done(s: number): boolean;
  /** Await the grace period `s` (driving it if need be). */
  waitFor(s: number): Promise<void>;
}

export class CallbackQueue {
  private readonly queue: { fn: () => void; s: number }[] = [];
  private running = false;

  constructor(
    private readonly core: DomainCore,
    private readonly gp: GpSource,
    /** Word index of thread t's QUEUED counter; DONE is at queuedWord(t) + doneDelta. */
    private readonly queuedWord: (t: number) => number,
    private readonly doneWord: (t: number) => number,
    /** Runs one callback (lockdep wraps it as a reader of the flavour's callback map). */
    private readonly invoke: (fn: () => void) => void,
  ) {
    this.rebase(); // built by a thread that has just claimed its slot (both owners build it in join/attach)
  }

  push(fn: () => void): void {
    this.queue.push({ fn, s: this.gp.snap() });
    Atomics.add(this.core.i32, this.queuedWord(this.core.slot), 1);
    if (!this.running) void this.run();
  }

  /** The calling thread has just claimed its slot: start with DONE == QUEUED (see the header). */
  private rebase(): void {
    const w = this.doneWord(this.core.slot);
    Atomics.store(this.core.i32, w, Atomics.load(this.core.i32, this.queuedWord(this.core.slot)));
    Atomics.notify(this.core.i32, w);
  }

  /**
   * Before detach: run every pending callback now, blocking (offline) in `waitSync(s)` until the
   * grace period each waits for has completed. Callbacks queued by callbacks are run too.
   */
  drainSync(waitSync: (s: number) => void): void {
    while (this.queue.length > 0) {
      waitSync(this.queue[this.queue.length - 1]!.s); // snapshots only grow along the queue
      this.runDone();
    }
  }

  /**
   * domain.detach(), after drainSync(), while the slot is still ours: leave it with DONE == QUEUED
   * (header). Not already so if detach() runs inside one of this queue's own callbacks: the batch
   * running it counts its callbacks only when it ends, and by then this thread is detached, so it
   * counts nothing. That callback is still running, but the slot is FREE when detach() returns,
   * which barrier() counts as done anyway.
   */
  leave(): void {
    this.rebase();
  }

  get pending(): number {
    return this.queue.length;
  }

  private async run(): Promise<void> {
    this.running = true;
    holdEventLoop();
    try {
      while (this.queue.length > 0) {
        try {
          await this.gp.waitFor(this.queue[0]!.s);
        } catch {
          await new Promise((r) => setTimeout(r, 10)); // e.g. the domain is being torn down; retry
          if (!this.core.attached) return;
          continue;
        }
        this.runDone();
      }
    } finally {
      this.running = false;
      releaseEventLoop();
    }
  }

  /** Run the callbacks at the head of the queue whose grace period has completed; count them. */
  private runDone(): void {
    let n = 0;
    while (this.queue.length > 0 && this.gp.done(this.queue[0]!.s)) {
      const { fn } = this.queue.shift()!;
      n++;
      try {
        this.invoke(fn);
      } catch (e) {
        queueMicrotask(() => {
          throw e; // like an exception in a setTimeout callback: surfaces as uncaughtException
        });
      }
    }
    // Never after detach (slot -1 would name a header word); drainSync left nothing to count then.
    if (n > 0 && this.core.attached) {
      const w = this.doneWord(this.core.slot);
      Atomics.add(this.core.i32, w, n);
      Atomics.notify(this.core.i32, w);
    }
  }

  /** Snapshot of QUEUED for every thread that may still run callbacks. */
  private targets(): [number, number][] {
    const out: [number, number][] = [];
    for (let t = 0; t < this.core.g.maxThreads; t++) {
      if (!this.core.threads.isAlive(t)) continue;
      out.push([t, Atomics.load(this.core.i32, this.queuedWord(t))]);
    }
    return out;
  }

  private reached(t: number, target: number): boolean {
    if (!this.core.threads.isAlive(t)) return true; // died, or ran them all and left
    return ((Atomics.load(this.core.i32, this.doneWord(t)) - target) | 0) >= 0;
  }

  async barrier(deadline: Deadline, signal: AbortSignal | undefined, abortError: () => Error): Promise<boolean> {
    holdEventLoop();
    try {
      for (const [t, target] of this.targets()) {
        for (;;) {
          const w = this.doneWord(t);
          const v = Atomics.load(this.core.i32, w);
          if (this.reached(t, target)) break;
          if ((await waitOn(this.core.i32, w, v, deadline, signal, abortError, 100)) === 'timed-out' && !this.reached(t, target)) return false;
        }
      }
      return true;
    } finally {
      releaseEventLoop();
    }
  }
}
