/*
 * call() and barrier() for RCU and SRCU: this thread's queue of callbacks waiting for a grace
 * period, and the cross-thread barrier over every thread's queue.
 *
 * Each callback records the grace-period snapshot current when it was queued; a single async loop
 * per queue waits for the oldest snapshot and then runs every callback whose grace period has
 * completed, in queue order, on this thread (like rcu_do_batch). While callbacks are pending the
 * loop keeps the event loop alive, so a worker never exits with callbacks unrun.
 *
 * barrier(): the queue counts callbacks in two shared words per thread, QUEUED and DONE (Atomics
 * add; DONE is notified). A barrier snapshots QUEUED of every live thread and waits until each
 * thread's DONE reaches it, or the thread dies or leaves (its callbacks will never run). The
 * Atomics.add of DONE happens after the callbacks ran, and the barrier's Atomics.load observes it:
 * everything the callbacks did happens-before barrier() resolves.
 */
import type { DomainCore } from '../domain/core.js';
import { ThreadState } from '../domain/layout.js';
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
  ) {}

  push(fn: () => void): void {
    this.queue.push({ fn, s: this.gp.snap() });
    Atomics.add(this.core.i32, this.queuedWord(this.core.slot), 1);
    if (!this.running) void this.run();
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
        if (n > 0) {
          const w = this.doneWord(this.core.slot);
          Atomics.add(this.core.i32, w, n);
          Atomics.notify(this.core.i32, w);
        }
      }
    } finally {
      this.running = false;
      releaseEventLoop();
    }
  }

  /** Snapshot of QUEUED for every thread that may still run callbacks. */
  private targets(): [number, number][] {
    const out: [number, number][] = [];
    for (let t = 0; t < this.core.g.maxThreads; t++) {
      const s = this.core.threads.state(t);
      if (s !== ThreadState.ONLINE && s !== ThreadState.OFFLINE) continue;
      out.push([t, Atomics.load(this.core.i32, this.queuedWord(t))]);
    }
    return out;
  }

  private reached(t: number, target: number): boolean {
    const s = this.core.threads.state(t);
    if (s !== ThreadState.ONLINE && s !== ThreadState.OFFLINE) return true; // died or left
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
