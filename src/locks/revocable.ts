/*
 * Revocable: "fence every reader wherever it is, then destroy" (seed 003; Rust's Revocable<T>, the
 * kernel's C revocable), with read sides that may move to another async context or thread.
 *
 * Mechanism: ONE shared atomic word, REV_WORD = REVOKED bit | number of outstanding accesses.
 *
 *   tryAccess():  old = Atomics.add(WORD, 1)
 *                 if old & REVOKED: Atomics.sub(WORD, 1) (wake the revoker if that emptied it); null
 *                 else: an Access
 *   release():    if Atomics.sub(WORD, 1) == REVOKED + 1: notify WORD (the last one out wakes revoke)
 *   revoke():     Atomics.or(WORD, REVOKED)       -- the fence: from now on no tryAccess succeeds
 *                 wait until (WORD & COUNT) == 0  -- every access, wherever it is, has been released
 *
 * Why one atomic word and not per-thread counters plus a grace period (as PercpuRwSem does): the
 * fence is exact and immediate on every thread (write-favoring in the strictest sense: an access
 * that begins after revoke's Atomics.or, on any thread, fails), revoke needs no grace period (a
 * teardown loop over many objects pays nothing per object, seed 000's complaint), handing an
 * access to another thread needs no per-thread bookkeeping for correctness, and the argument below
 * is three lines with no reliance on the grace-period engine. The price is an Atomics.add/sub pair
 * on a shared line per access (~30 ns): a Revocable guards the lifetime of an object, its accesses
 * are not meant to be the per-operation hot path; PercpuRwSem / PercpuRef are.
 *
 * Memory model: every access's Atomics.add reads the word after (in the SC order) or before the
 * revoker's Atomics.or. After: it sees REVOKED and fails. Before: the revoker's later loads see its
 * increment, so revoke waits for it; the access's release (Atomics.sub) comes after everything the
 * holder did with the object, and the revoker's Atomics.load that sees the count reach zero reads
 * that sub (or a later one): everything every accessor did happens-before revoke() resolves, so the
 * caller may destroy the object. Wake-ups: the sub that leaves exactly REVOKED notifies WORD; the
 * revoker waits on WORD with the value it last loaded, so it cannot miss the change.
 *
 * Handoff (seed 003's "exit reader" / "re-enter reader"): access.handoff() keeps the count, claims a
 * handoff-table word (locks/handoff.ts; its CAS pair orders the two contexts) and returns a token;
 * revocable.adoptHandoff(token) / domain.adopt(token) in any context of any thread gives an Access
 * owning it there. An access in transit is still counted: revoke waits for it, adopted or not.
 *
 * Reports: a revoke that times out names the threads still holding accesses. For that alone each
 * thread keeps, in its per-thread area, how many accesses it holds now (REV_PC_HELD, plain writes by
 * the owner only, read by the reporter; a report may be a moment stale) and the header counts
 * accesses in transit (REV_TRANSIT). Neither is used for correctness. Dead threads' accesses are
 * never released: the revoke waits for them until its timeout, and the report says they are dead.
 * "Owner only" holds because domain.detach() refuses (ERR_DEADLOCK) while this thread holds an
 * access (heldHere): a detached thread, which could still release one, never shares the slot's
 * word with the slot's next occupant. The same word answers revokeSync()'s self-deadlock check.
 *
 * lockdep: an Access holds the revocable's class as 'read' (tryAccess is a trylock: wait 'none');
 * revoke*() calls ld.waitFor(class) before waiting, so "revoke under L while an access
 * takes L" is a cycle lockdep reports the first time both orders are seen.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { REV_PC_HELD, REV_TRANSIT, REV_WORD, ThreadState, percpuWord } from '../domain/layout.js';
import { Deadline, abortedError, checkWaitOptions, timeoutError, type WaitOptions, runAsync, runSync, type WaitProgram } from '../domain/wait.js';
import { ld, type AcquireOptions, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import type { Rcu } from '../rcu/rcu.js';
import { Guard } from './guard.js';
import { makeHandoffToken, takeHandoffToken, type Handoff, type HandoffToken } from './handoff.js';

const REVOKED = 1 << 30;
const COUNT = REVOKED - 1;

/** Who still holds accesses when a revoke times out. */
export interface AccessReport {
  /** Outstanding accesses in all (the shared count). */
  outstanding: number;
  /** Handed off and not adopted yet. */
  inTransit: number;
  holders: { thread: number; threadId: number; alive: boolean; accesses: number }[];
}

/** A held access to a Revocable (SPEC §5 Access). */
export class Access extends Guard {
  /** @internal */
  constructor(
    private readonly rev: Revocable,
    /** @internal lockdep's record of the hold (null with lockdep off). */ readonly h: HeldLock | null,
  ) {
    super(h);
  }
  protected get what(): string {
    return describe('Revocable', this.rev.name);
  }
  protected releaseHeld(): void {
    this.rev.put(this.h);
  }
  release(): void {
    this.end('release()');
  }
  handoff(): Handoff {
    return this.rev.handoffAccess(this.h, this.moveOut(this.rev.core));
  }
}

export class Revocable {
  readonly lockdepClass: LockClass;
  private readonly i32: Int32Array;
  private readonly word: number;
  private readonly transit: number;
  private readonly myHeld: number;
  private readonly accessOpts: AcquireOptions;

  /** @internal — use `domain.revocable(name)`. */
  constructor(
    /** @internal */ readonly core: DomainCore,
    readonly name: string,
    private readonly cls: string,
    obj: number,
    private readonly pcpu: number,
    private readonly rcu: Rcu,
  ) {
    this.i32 = core.i32;
    this.word = (obj >> 2) + REV_WORD;
    this.transit = (obj >> 2) + REV_TRANSIT;
    this.myHeld = percpuWord(core.g, core.slot, pcpu) + REV_PC_HELD;
    this.lockdepClass = ld.classFor(cls);
    this.accessOpts = { wait: 'none', try: true, instance: this };
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('Revocable', this.name));
  }

  /** @internal Domain.detach(): how this thread holds the revocable ('N accesses'), or null. */
  heldHere(): string | null {
    const n = this.i32[this.myHeld]!;
    return n > 0 ? `${n} access${n === 1 ? '' : 'es'}` : null;
  }

  /** True once revoke has begun (on any thread). */
  get isRevoked(): boolean {
    return (Atomics.load(this.i32, this.word) & REVOKED) !== 0;
  }

  // ---- access side --------------------------------------------------------------------------------

  /** try-begin-read: an Access, or null once revoke has begun. */
  tryAccess(): Access | null {
    this.core.checkAttached(this.what);
    const i32 = this.i32;
    const old = Atomics.add(i32, this.word, 1);
    if ((old & REVOKED) !== 0) {
      this.dropCount();
      return null;
    }
    if ((old & COUNT) === COUNT - 1) {
      this.dropCount();
      throw new QuiesceError('ERR_REFCOUNT_OVERFLOW', `${this.what}: more than ${COUNT - 1} accesses at once`);
    }
    let h: HeldLock | null = null;
    if (ld.on) {
      try {
        h = ld.acquire(this.lockdepClass, 'read', this.accessOpts);
      } catch (e) {
        this.dropCount();
        throw e;
      }
    }
    i32[this.myHeld]!++;
    return new Access(this, h);
  }

  /** Run fn under an access; resolves undefined (fn not called) if revoke has begun. */
  async withAccess<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
    if (typeof fn !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: withAccess(fn) needs a function`);
    const a = this.tryAccess();
    if (a === null) return undefined;
    try {
      const r = fn(); // its synchronous part runs now, holding the access
      // From here the caller holds nothing: fn's task does (ld.leave). Our continuation, created
      // by the await below after leave(), does not; it releases the access by its handle.
      if (ld.on) ld.leave(a.h);
      return await r;
    } finally {
      a.release();
    }
  }

  /** One access fewer; the last one out after a revoke wakes the revoker. */
  private dropCount(): void {
    if (Atomics.sub(this.i32, this.word, 1) === REVOKED + 1) Atomics.notify(this.i32, this.word);
  }

  /** @internal release() of an access (from its guard, on the thread that holds it now). */
  put(h: HeldLock | null): void {
    if (ld.on) ld.release(h);
    this.i32[this.myHeld]!--;
    this.dropCount();
  }

  /** @internal An access leaves this context; it stays counted until the adopter releases it. */
  handoffAccess(h: HeldLock | null, slot: number): Handoff {
    this.i32[this.myHeld]!--;
    Atomics.add(this.i32, this.transit, 1);
    return { token: makeHandoffToken(this.core, 'Revocable', this.name, this.cls, h, slot) };
  }

  /** Take over an access handed off by another context or thread (domain.adopt dispatches here). */
  adoptHandoff(token: HandoffToken): Access {
    this.core.checkAttached(this.what);
    takeHandoffToken(this.core, token, 'Revocable', this.name, this.what);
    Atomics.sub(this.i32, this.transit, 1);
    this.i32[this.myHeld]!++;
    const h = ld.on && token.lockdep ? ld.adopt(token.lockdep, this) : null;
    return new Access(this, h);
  }

  // ---- revoke -------------------------------------------------------------------------------------

  /** Who holds the outstanding accesses (for reports; a moment stale at worst). */
  holders(): AccessReport {
    const { core, i32 } = this;
    const holders: AccessReport['holders'] = [];
    for (let t = 0; t < core.g.maxThreads; t++) {
      const n = Atomics.load(i32, percpuWord(core.g, t, this.pcpu) + REV_PC_HELD);
      if (n > 0) holders.push({ thread: t, threadId: core.threads.threadId(t), alive: core.threads.state(t) !== ThreadState.DEAD, accesses: n });
    }
    return { outstanding: Atomics.load(i32, this.word) & COUNT, inTransit: Atomics.load(i32, this.transit), holders };
  }

  private revokeTimeout(op: string, timeoutMs: number | undefined): QuiesceError {
    const r = this.holders();
    const parts = r.holders.map((x) => `${this.core.threads.describe(x.thread)} holds ${x.accesses}`);
    if (r.inTransit > 0) parts.push(`${r.inTransit} handed off and not adopted yet`);
    const base = timeoutError(this.what, op, timeoutMs).message.replace(/ \[ERR_TIMEOUT\]$/, '');
    return new QuiesceError(
      'ERR_TIMEOUT',
      `${base}; ${r.outstanding} access(es) still held: ${parts.join(', ') || 'unknown'} (the revocable stays revoked)`,
      r,
    );
  }

  /** The fence: from here on no tryAccess succeeds, on any thread. Idempotent. */
  private fence(): void {
    Atomics.or(this.i32, this.word, REVOKED);
  }

  private drained(): boolean {
    return (Atomics.load(this.i32, this.word) & COUNT) === 0;
  }

  /**
   * Refuse new accesses at once, then wait until every access (any thread, any async context,
   * handed off or not) is released: then the object is safe to destroy. On timeout/abort the
   * revocable stays revoked (calling revoke again waits again).
   */
  async revoke(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (ld.on) ld.waitFor(this.lockdepClass, 'async', `${this.what}.revoke()`, this);
    this.fence();
    if (this.drained()) return;
    if (signal?.aborted) throw abortedError(this.what, 'revoke()', signal);
    await runAsync(this.i32, this.drain('revoke()', timeoutMs), new Deadline(timeoutMs), signal, () => abortedError(this.what, 'revoke()', signal));
  }

  /** Blocking revoke(). ERR_DEADLOCK (and no fence) if this thread itself holds an access. */
  revokeSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.core.checkAttached(this.what);
    if (this.i32[this.myHeld]! > 0) {
      throw new QuiesceError('ERR_DEADLOCK', `${this.what}: revokeSync() while this thread holds an access to it (it could never be released)`);
    }
    if (this.rcu.inReadSection) throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: revokeSync() inside an RCU read section`);
    if (ld.on) ld.waitFor(this.lockdepClass, 'sync', `${this.what}.revokeSync()`, this);
    this.fence();
    if (this.drained()) return;
    if (signal?.aborted) throw abortedError(this.what, 'revokeSync()', signal);
    runSync(this.i32, this.drain('revokeSync()', timeoutMs), new Deadline(timeoutMs));
  }

  /** Wait until the access count is zero (a wait program, domain/wait.ts). */
  private *drain(op: string, timeoutMs: number | undefined): WaitProgram<void> {
    for (;;) {
      const v = Atomics.load(this.i32, this.word);
      if ((v & COUNT) === 0) return;
      if ((yield { index: this.word, value: v }) === 'timed-out' && !this.drained()) throw this.revokeTimeout(op, timeoutMs);
    }
  }
}
