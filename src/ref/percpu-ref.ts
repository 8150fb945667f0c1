/*
 * PercpuRef: the kernel's percpu_ref (lib/percpu-refcount.c) across worker_threads (SPEC §4).
 *
 * State (layout.ts PR_*): a shared header line { MODE, COUNT, BIASED, FOLDED, SWITCHER, EVENTS,
 * RELEASES, CREATOR, CREATOR_GEN, FLAGS, WAITERS, SWITCH_SEQ, SWITCH_NO, SW_ORIGIN } (the last
 * four: see "wake-ups", "switch ownership" and "hand-back" below) and two Int32 words per thread
 * in its per-thread area:
 *   pc[t]  (PR_PC_COUNT)  the percpu counter: plain ++/-- by thread t only, NEVER reset; it wraps
 *                         mod 2^32 and the sum over all threads is still exact (modular arithmetic
 *                         commutes, the kernel's argument);
 *   at[t]  (PR_PC_ATOMIC) attribution only: thread t's net gets made in atomic mode (plain, owner
 *                         only). It is never summed into the count; it lets a timed-out drain say
 *                         "thread 3 (dead) holds 5" after the switch to atomic (pc[t] + at[t] is
 *                         the net number of references thread t took and did not put). 8 bytes per
 *                         ref per thread: the 4-byte alternative would lose per-thread attribution
 *                         once the ref is atomic, which SPEC §4 asks drains to report.
 *
 * Modes (MODE bits): 0 = percpu. ATOMIC, DEAD (killed), SWITCHING (a switch is in flight, owned by
 * thread SWITCHER-1), FORCE (sticky atomic: initAtomic / switchToAtomic), EXITED.
 *
 * Value: true count T = COUNT - (BIASED ? BIAS : 0) + (BIASED ? (sum pc - FOLDED) : 0).
 * In percpu mode COUNT holds BIAS (+ the initial reference + whatever atomic-mode gets were still
 * in flight), so it can never reach zero; in atomic mode (folded) COUNT == T.
 *
 * Fast path (get/put/tryGet/tryGetLive in percpu mode): a PLAIN read of MODE; if 0, pc[me] += n.
 * No Atomics, no write to a shared line. (Both through one-element views of the same words.)
 *
 * Switch to atomic (kill, switchToAtomic; the kernel's __percpu_ref_switch_to_atomic):
 *   1. CAS MODE 0 -> ATOMIC|SWITCHING[|DEAD|FORCE]; take the switch's own reference (COUNT += 1;
 *      a kill's initial reference stands in for it instead, as in killAll: COUNT is not touched);
 *   2. wait one RCU grace period of the domain whose snapshot is taken AFTER the CAS;
 *   3. fold: S = sum pc[t] over every slot (dead ones included: their references are still held);
 *      FOLDED = S; COUNT += (S - FOLDED_before) - BIAS in ONE Atomics.add; BIASED = 0;
 *      check T >= (DEAD ? 0 : 1), else the imbalance is reported (see "bad input");
 *   4. clear SWITCHING, put the switch's reference (may release), run confirmations. Steps 3-4 run
 *      by the one owner holding BUSY in SWITCHER (see "switch ownership"): exactly once per switch.
 * Switch back (switchToPercpu, resurrect, reinit; only with allowReinit): claim SWITCHING, add
 * BIAS to COUNT, BIASED = 1, then CAS MODE ATOMIC|SWITCHING -> 0. Nothing is zeroed: pc[t] keeps
 * counting from where it is and FOLDED remembers what was already folded, so the only writer of
 * pc[t] is ever thread t (seed 001: a counter with two writers loses updates; ours has one).
 * If that CAS fails (someone killed or forced meanwhile), no thread can have seen percpu mode,
 * so the switch folds again at once (delta 0) without a grace period.
 *
 * Memory-model argument (no update is ever lost, whatever the interleaving):
 *  - A fast-path update reads MODE and writes pc[me] in one synchronous run, so it lies entirely
 *    inside one event-loop turn of its thread: an RCU-sched read section (rcu/gp.ts).
 *  - The switcher's Atomics CAS of MODE precedes (program order) its grace-period snapshot; the
 *    GP driver's Atomics.store of T_QS_REQ[t] follows it, and thread t acknowledges with an
 *    Atomics.store of T_QS_ACK[t] at its next turn, which the driver reads with Atomics.load.
 *    So (a) every update thread t made in a turn that began before the GP happens-before the
 *    driver's end of the GP, which happens-before (GP_SEQ store/load) the fold's plain reads of
 *    pc[t]: the fold sees it; and (b) every turn of t that begins after its acknowledgement
 *    happens-after the MODE CAS, so its plain read of MODE sees ATOMIC and it never touches pc[t]
 *    again until a switch back. Threads offline/idle/dead are quiescent by construction
 *    (domain/thread.ts: their SC state transitions order them the same way); a dead thread's
 *    last writes are visible once its slot is DEAD (the spawner saw 'exit' after the runtime
 *    joined the thread).
 *  - Hence at the fold pc[] is final until the next switch back, and the fold adds it exactly
 *    once (FOLDED), in one Atomics.add: concurrent atomic-mode gets/puts are Atomics RMWs on the
 *    same word and commute with it; BIAS keeps COUNT away from zero until the add, exactly as in
 *    lib/percpu-refcount.c.
 *  - Switch back: BIAS is added (Atomics.add) BEFORE MODE is published as 0 (Atomics CAS). A
 *    thread that sees MODE == 0 only ever writes its own pc[me]; it needs to see no other write
 *    (nothing was zeroed), so the plain read of MODE is enough. A thread that read ATOMIC just
 *    before the switch back goes to COUNT with an Atomics RMW: still counted (T's formula holds
 *    for any COUNT contribution while BIASED).
 *  - Release: an atomic-mode put that takes COUNT to 0 (CAS) bumps RELEASES (Atomics.add; always:
 *    inspect(), drains and the watcher read it) and then wakes the waiters on EVENTS (bump()).
 *  - Wake-ups (bump()): every thread or task that may sleep on EVENTS (drains, switch waiters, the
 *    creator's onRelease watcher) first does Atomics.add(WAITERS, +1), THEN loads EVENTS and
 *    re-checks the state it waits for, sleeps on EVENTS, and does Atomics.sub(WAITERS, 1) when it
 *    stops waiting (the watcher stays counted while it is armed). A state change (always an
 *    Atomics RMW/store: the COUNT CAS, the MODE CAS, RELEASES add) is followed by bump(), which does
 *    Atomics.load(WAITERS) and only if it is non-zero Atomics.add(EVENTS) + Atomics.notify(EVENTS)
 *    (notify takes V8's futex mutex: the expensive part of a release). Dekker's argument, all of
 *    it SC Atomics in one total order: if the waiter's re-check missed the state change, the check
 *    precedes the change, so its WAITERS add precedes bump()'s load of WAITERS: bump() sees it and
 *    bumps EVENTS after the waiter loaded it, so the waiter's Atomics.wait(EVENTS, ev) returns
 *    at once or is notified. A waiter that dies counted leaves WAITERS too high: extra notifies,
 *    never a lost one. (A thread's death notifies EVENTS whenever the dead slot owned the ref's
 *    switch or created the ref, whatever WAITERS says: the onThreadDeath handler below.)
 *
 * terminate(): a worker can be stopped at any function entry or loop back-edge of its JS (V8
 * checks the termination request there), so no such point may separate two writes that only make
 * sense together: claim() draws its token before the MODE CAS and then stores SWITCHER (and the
 * switch's reference) with Atomics only; markDead() drops the initial reference right after the
 * CAS that set DEAD (or lets it stand in for the switch's); advance() drops the switch's reference
 * right after the CAS that ended the switch. Stopped anywhere else, the thread leaves a switch
 * that a waiter takes over from its DEAD slot (or none): the ref is still killed, drained and
 * released once (test/ref/terminate.test.ts tries every call boundary). (A CAS retried under
 * contention loops, and a loop back-edge is such a point: a narrower window, not closed.)
 *
 * Bad input (seed 002): atomic-mode get/put are CAS loops that check BEFORE writing, so a put below
 * zero throws ERR_REFCOUNT_UNDERFLOW and a get past 2^31-1 ERR_REFCOUNT_OVERFLOW with the count
 * unchanged. In percpu mode a thread's counter may be legitimately negative, so an imbalance shows
 * at the fold: T < 0 for a dead ref, T < 1 for a live one (its initial reference is gone). Then the
 * excess puts are discarded (COUNT is raised to the minimum valid value: the ref is consistent,
 * released if dead), a process warning names the ref and every thread's net count (a negative one
 * is the thread that put too much), and the switching call (switchToAtomic, killAndDrain*,
 * killAll) rejects/throws ERR_REFCOUNT_UNDERFLOW, also when another thread took its switch over
 * and folded it (see "hand-back" below; the warning is the folding thread's, once). (A plain
 * kill() has no caller left to throw to: warning only.) After the fold, an excess atomic-mode put
 * on another thread can still take the reference the switch has yet to drop (a checked put sees
 * COUNT >= 1): it releases the ref, and the switch's end finds COUNT 0: it drops nothing, and
 * reports the same way (switchRefTaken()), never throwing out of its driver.
 *
 * onRelease: runs once per release on the thread that created the ref (its slot, in the slot's
 * generation at the time: CREATOR/CREATOR_GEN; a later occupant of a detached creator's slot is
 * not the creator). That thread keeps an
 * Atomics.waitAsync armed on EVENTS; it holds its event loop alive while the ref is dead and not
 * yet released (the only state in which a release is expected). If the creating thread has exited,
 * onRelease never runs (the release itself still happens: drains resolve, isZero() is true).
 * A kill wakes the watcher (markDead()'s bump()), but killAll's mark sends no wake-up (kill-all.ts
 * step 1: none per ref), and its fold comes a grace period later: a creator with nothing else to
 * do would end its event loop in between and never run onRelease. So every thread's armed
 * watchers are also re-checked when its event loop is about to end (ONE process 'beforeExit'
 * listener per thread, recheckWatchers(): no cost to any kill): an Atomics.load of MODE that sees
 * the ref dead and not released (or RELEASES moved past what the watcher has run) holds the loop
 * open, and the watcher's next wake-up (the release's bump()) runs onRelease and lets go. Either
 * that load sees the mark's CAS, or the mark follows it in the SC order: the kill raced with the
 * creator's own exit, exactly as a kill() whose notify arrives after the creator's loop ended.
 *
 * Switch ownership: one owner at a time (SWITCHING bit + SWITCHER). It usually runs as an async
 * task on the caller's thread; a *Sync call on the same thread drives it synchronously instead.
 * A switch started by PercpuRef.killAll has no SwitchRun until a *Sync call on its thread adopts
 * it (adoptBatch(): the batch's async fold cannot run while that thread blocks). SWITCHER holds
 * the owner's TOKEN, (epoch << 11) | (slot + 1) (layout.ts PR_SW_*): every claim() and every
 * takeover draws a fresh epoch from SWITCH_SEQ (a killAll mark uses epoch 0, and adoptBatch() CASes
 * it to a fresh token before its run exists), so a token names one ownership, not just a thread.
 * The 19-bit epoch wraps: newToken() skips the tokens of this thread's own unfinished runs of the
 * ref (another thread's tokens differ in the slot bits). Protocol:
 *  - take over: a thread waiting for a switch whose owner is not ONLINE (dead, detached, or blocked
 *    in one of quiesce's own *Sync waits: SPEC §3, and the kernel's switch completes from an RCU
 *    callback, independently of the killer) CASes SWITCHER from the token it read to its own, and
 *    drives the switch with a fresh grace period (takeOver()). The old owner's async driver cannot
 *    run until its thread wakes; gp.ts takes an OFFLINE driver's grace period over the same way.
 *  - fold and end are exclusive: after its grace period, an owner CASes SWITCHER token -> token|BUSY
 *    (advance()); only then does it fold, clear SWITCHING (a CAS from a MODE with SWITCHING set),
 *    drop the switch's reference and CAS SWITCHER back to 0; then finish() wakes and confirms. The BUSY section is
 *    synchronous, so its holder is never OFFLINE: it is taken from only if its thread is DEAD.
 *  - a stale owner finds out at its next step: SWITCHER no longer holds its token, so its BUSY CAS
 *    (or the load before it) fails: advance() says 'lost', and it neither folds nor drops anything
 *    (lose()); its confirmations run once that switch has ended (SWITCHING clear, or SWITCH_NO,
 *    bumped by every claim(), has moved on). So the switch's reference is dropped exactly once.
 *    A lost run is finished but not `ended`: a waiter (switchesDone*) that owned it does not take
 *    it for the end of the switch; it re-checks the mode and waits (or takes over) again.
 *  - this.run is only ever a run of this thread that may still need driving: claim(), takeOver()
 *    and adoptBatch() set it; finish()/lose() clear it only if it is still their run. (killAll's
 *    batchFold() never sets it: it would hide a later switch of this thread from its *Sync waits.)
 *  - a thread that detach()es first completes every switch it owns, synchronously
 *    (completeOwnSwitchesSync()): a detached thread owns no switch.
 *  - hand-back: the imbalance a fold finds ("bad input") is the error of the call that started
 *    the switch, whoever folds. One header word, ORIGIN (PR_SW_ORIGIN), names that call's token:
 *    the FIRST takeover of a switch CASes it from 0 (or from an older switch's unread hand-back)
 *    to the token it replaced, right after its SWITCHER CAS (from then on that owner cannot end
 *    the switch; later takeovers leave ORIGIN alone). The owner that ends a taken-over switch,
 *    holding BUSY, stores origin | ERR if its fold found an imbalance, else 0, BEFORE the CAS that
 *    ends the switch (handBack()). A lost run reads it (handedBack(): ONE CAS origin|ERR -> 0) only
 *    after an Atomics load saw the switch end (SWITCHING clear, SWITCH_NO moved on, or EXITED),
 *    so, SC, after that store: it finds its own switch's verdict, or a later taken-over switch's,
 *    which names another token (tokens are unique: one ownership each), never another switch's
 *    error. Readers: confirmWhenEnded() (switchToAtomic's confirmation), switchesDone*() (drains,
 *    killAndDrain*), and killAll for a mark taken over (kill-all.ts; a mark's token is epoch 0,
 *    the same for every killAll of its thread, so only a batch whose own fold lost the ref reads,
 *    and only if no later killAll of its thread has marked the ref since: markedBy). The taker's
 *    own call (a drain that took over) reports it too, as before: it folded. Not handed back: an
 *    error switchRefTaken() finds at the end (after that CAS), a hand-back still unread when a
 *    later switch of the same ref is taken over (one word), and a mark's still unread when a later
 *    killAll of the same thread marks the ref again (the same token: whose verdict it is can no
 *    longer be told): the warning and the taker's call still report those.
 */
import { QuiesceError, describe } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { onThreadDeath } from '../domain/core.js';
import {
  Kind,
  PR_BIAS,
  PR_BIASED,
  PR_COUNT,
  PR_CREATOR,
  PR_CREATOR_GEN,
  PR_EVENTS,
  PR_FLAGS,
  PR_FOLDED,
  PR_F_ALLOW_REINIT,
  PR_MODE,
  PR_M_ATOMIC,
  PR_M_DEAD,
  PR_M_EXITED,
  PR_M_FORCE,
  PR_M_SWITCHING,
  PR_PC_ATOMIC,
  PR_PC_COUNT,
  PR_RELEASES,
  PR_SWITCHER,
  PR_SWITCH_NO,
  PR_SWITCH_SEQ,
  PR_SW_BUSY,
  PR_SW_ORIGIN,
  PR_SW_ORIGIN_ERR,
  PR_SW_EPOCHS,
  PR_SW_EPOCH_SHIFT,
  PR_SW_SLOT_MASK,
  PR_WAITERS,
  percpuWord,
} from '../domain/layout.js';
import { Deadline, abortedError, blockOn, checkWaitOptions, holdEventLoop, releaseEventLoop, timeoutError, waitOn, type WaitOptions } from '../domain/wait.js';
import { Guard } from '../locks/guard.js';
import { ld, type HeldLock, type LockClass } from '../lockdep/hooks.js';
import type { Rcu } from '../rcu/rcu.js';
import { killAllBatch, unfoldedBatch, type KillBatch } from './kill-all.js';

export interface PercpuRefOptions {
  /** Start in atomic mode (sticky until switchToPercpu()); implies allowReinit, as in the kernel. */
  initAtomic?: boolean;
  /** Start dead, count 0, atomic (use reinit() to bring it live); implies allowReinit. */
  initDead?: boolean;
  /** Keep the per-thread counters usable after a switch to atomic (resurrect/reinit/switchToPercpu). */
  allowReinit?: boolean;
  /** Runs once per release, on the thread that created the ref (see the header). Not part of the identity. */
  onRelease?: () => void;
  /** lockdep class (default: the name). */
  class?: string;
}

/** One thread's share of a ref, for reports. */
export interface RefHolder {
  thread: number;
  description: string;
  alive: boolean;
  /** Net references this thread took and has not put (percpu and atomic mode together). */
  held: number;
}

export interface RefState {
  mode: 'percpu' | 'atomic' | 'switching';
  dead: boolean;
  exited: boolean;
  /** Exact in atomic mode; in percpu mode an unsynchronised estimate. */
  count: number;
  releases: number;
  holders: RefHolder[];
}

const INT32_MAX = 0x7fffffff;

let killAllCalls = 0; // bumped per PercpuRef.killAll call (a double: never wraps in practice)

/** This thread's armed release watchers, re-checked before its event loop ends (header: onRelease). */
const watchers = new Set<PercpuRef>();
let recheckHooked = false;
function recheckWatchers(): void {
  for (const r of watchers) r.recheckHold();
}

/** A switch in flight, owned by this thread. */
interface SwitchRun {
  snap: number; // grace period to wait for before folding (-1: none needed)
  token: number; // this thread's token in SWITCHER while it owns the switch (header: switch ownership)
  no: number; // PR_SWITCH_NO of the switch (claim()/takeOver(); 0 for killAll marks: no confirmations)
  finished: boolean; // this driver is done with it: it ended the switch, or lost it
  ended: boolean; // finished by finish(): THIS driver ended the switch (lose() leaves it false)
  error: QuiesceError | undefined;
  dropped: number; // COUNT before advance() dropped the switch's reference at its end (<= 0: nothing to drop)
  confirms: ((err: QuiesceError | undefined) => void)[];
  origin: number; // a taken-over switch's original owner (PR_SW_ORIGIN), once handBack() has read it; 0: not yet / none
  handBackRead: boolean; // handedBack() has looked for this (lost) run's hand-back: its answer is in `error`
  hi?: number; // highest slot the fold must scan (kill-all.ts computes it once per batch); default: all
}

/** A new run (not finished, no error yet; its reference not dropped yet: `dropped` 1). */
function newRun(snap: number, token: number, no: number, hi?: number): SwitchRun {
  return { snap, token, no, finished: false, ended: false, error: undefined, dropped: 1, confirms: [], origin: 0, handBackRead: false, hi };
}

// Only wakes waiters to re-check: safe to run any number of times.
onThreadDeath(Kind.PercpuRef, (core, slot, _name, obj) => {
  const h = obj >> 2;
  // Waiters re-check; a switch whose owner died is taken over by one of them.
  if ((Atomics.load(core.i32, h + PR_SWITCHER) & PR_SW_SLOT_MASK) === slot + 1 || Atomics.load(core.i32, h + PR_CREATOR) === slot) {
    Atomics.add(core.i32, h + PR_EVENTS, 1);
    Atomics.notify(core.i32, h + PR_EVENTS);
  }
});

/** Validate a reference count argument. */
function checkN(what: string, op: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > INT32_MAX) {
    throw new QuiesceError('ERR_INVALID_ARG', `${what}: ${op}(n) needs a positive integer count up to 2^31-1, got ${String(n)}`);
  }
  return n;
}

/** The guard hold() returns: release() is put(); a second release throws ERR_DOUBLE_UNLOCK. */
export class RefGuard extends Guard {
  /** @internal */
  constructor(
    private readonly ref: PercpuRef,
    private readonly h: HeldLock | null,
  ) {
    super(h);
  }
  protected get what(): string {
    return describe('PercpuRef', this.ref.name);
  }
  protected releaseHeld(): void {
    ld.release(this.h);
    this.ref.put();
  }
  release(): void {
    this.end('release()');
  }
}

/** What a detached thread's fast paths read as MODE: never 0 (percpu), so never the fast path. */
const DETACHED_MODE = Int32Array.of(PR_M_ATOMIC);

export class PercpuRef {
  // `declare`: no class-field definition (which would store undefined first), so each of these is
  // written exactly once, in the constructor, and V8 keeps them as constant fields: the fast path's
  // loads of them fold away once get()/put() are inlined (measured: 2x on the get+put pair).
  /** @internal */ declare readonly i32: Int32Array;
  /** @internal */ declare readonly h: number; // word index of the shared header
  private declare readonly mode: number; // word index of MODE (hot: read plainly)
  private declare readonly pc: number; // word index of this thread's percpu counter
  private declare readonly at: number; // word index of this thread's atomic-mode attribution
  // One-element views of MODE and of pc[me] on the same SharedArrayBuffer (views of one buffer
  // alias exactly: same memory, same plain-access semantics as i32[mode] / i32[pc]). The fast path
  // indexes them with the constant 0, which saves the per-call index loads and bounds checks
  // against the whole buffer (measured in bench/ref.ts alternating rounds: ~0.15-0.25x of the
  // plain pair off the get+put ratio).
  // modeW is replaced once, by detached(): its only non-constructor write.
  private declare modeW: Int32Array;
  private declare readonly pcW: Int32Array;
  private run: SwitchRun | null = null;
  private onRelease: (() => void) | undefined;
  private watching = false;
  private holding = false;
  private seenReleases = 0;
  private killAllStamp = 0; // PercpuRef.killAll's duplicate check
  /** @internal the id of the killAll batch (this thread's) that marked this ref and will fold it, or 0. */
  batch = 0;
  /**
   * @internal the killAll batch (this thread's) that marked this ref LAST; never cleared. Every mark
   * of this thread is the same epoch-0 token, so only that batch may take a hand-back addressed to
   * it (header: "hand-back"): an earlier batch that lost an earlier switch of this ref must not
   * take the verdict of a later one.
   */
  markedBy = 0;
  readonly lockdepClass: LockClass;

  /** @internal — use `domain.percpuRef(name, options)`. */
  constructor(
    /** @internal */ readonly core: DomainCore,
    readonly name: string,
    cls: string,
    obj: number,
    /** @internal */ readonly pcpu: number,
    /** @internal */ readonly rcu: Rcu,
    onRelease: (() => void) | undefined,
  ) {
    this.i32 = core.i32;
    this.h = obj >> 2;
    this.mode = this.h + PR_MODE;
    this.pc = percpuWord(core.g, core.slot, pcpu) + PR_PC_COUNT;
    this.at = percpuWord(core.g, core.slot, pcpu) + PR_PC_ATOMIC;
    this.modeW = new Int32Array(core.i32.buffer, this.mode * 4, 1);
    this.pcW = new Int32Array(core.i32.buffer, this.pc * 4, 1);
    this.lockdepClass = ld.classFor(cls);
    this.setOnRelease(onRelease);
  }

  /** @internal initialise the shared header of a new ref (before it is published). */
  static init(i32: Int32Array, obj: number, creator: number, creatorGen: number, o: PercpuRefOptions): void {
    const h = obj >> 2;
    const allowReinit = !!(o.allowReinit || o.initAtomic || o.initDead);
    let mode = 0;
    let count = 0;
    if (o.initAtomic || o.initDead) mode |= PR_M_ATOMIC;
    else count += PR_BIAS;
    if (o.initAtomic) mode |= PR_M_FORCE;
    if (o.initDead) mode |= PR_M_DEAD;
    else count += 1;
    i32[h + PR_COUNT] = count;
    i32[h + PR_BIASED] = mode & PR_M_ATOMIC ? 0 : 1;
    i32[h + PR_FOLDED] = 0;
    i32[h + PR_CREATOR] = creator;
    i32[h + PR_CREATOR_GEN] = creatorGen;
    i32[h + PR_FLAGS] = allowReinit ? PR_F_ALLOW_REINIT : 0;
    i32[h + PR_WAITERS] = 0;
    i32[h + PR_SWITCHER] = 0;
    i32[h + PR_SWITCH_SEQ] = 0;
    i32[h + PR_SWITCH_NO] = 0;
    i32[h + PR_SW_ORIGIN] = 0;
    Atomics.store(i32, h + PR_MODE, mode);
  }

  /**
   * @internal Domain.detach(): this thread leaves, and its slot (so pc[me]) may get a new occupant.
   * The fast paths test only modeW[0], so point it at a word that is never 0: every get/put/tryGet
   * then takes the slow path, whose checkLive() throws ERR_NOT_ATTACHED before writing anything.
   */
  detached(): void {
    this.modeW = DETACHED_MODE;
  }

  /** @internal the creating thread's getter may (re)set the release callback. */
  setOnRelease(fn: (() => void) | undefined): void {
    if (fn === undefined) return;
    // Runs on the creator only: its slot, in the generation it had (a detached creator's slot may
    // have a new occupant, which did not create the ref).
    if (Atomics.load(this.i32, this.h + PR_CREATOR) !== this.core.slot || Atomics.load(this.i32, this.h + PR_CREATOR_GEN) !== this.core.gen) return;
    this.onRelease = fn;
    if (!this.watching) {
      this.watching = true;
      this.waitBegin(); // counted while armed: releases notify it (header: wake-ups)
      this.seenReleases = Atomics.load(this.i32, this.h + PR_RELEASES);
      watchers.add(this);
      if (!recheckHooked) {
        recheckHooked = true;
        process.on('beforeExit', recheckWatchers);
      }
      this.watch();
    }
  }

  /** Names the object in messages (built once: it is passed on hot paths). */
  private whatText: string | undefined;
  private get what(): string {
    return (this.whatText ??= describe('PercpuRef', this.name));
  }

  // ---- fast paths -------------------------------------------------------------------------------

  // Each fast path is one plain load of MODE and one plain update of this thread's counter, small
  // enough for V8 to inline into the caller's loop. An explicit count (n !== undefined), its
  // validation and every non-percpu case are out of line. lockdep is not consulted here: a bare
  // get/put is not a lock acquisition (hold() is the lockdep-tracked form).
  // Inlined, the untaken out-of-line branch is a deoptimisation exit, and TurboFan does not peel
  // a loop with an inlined exit, so a caller's loop re-checks `this` and both views every
  // iteration: that, not the MODE load, is most of the gap to a bare ++/-- (README section 9).

  get(n?: number): void {
    if (n === undefined && this.modeW[0] === 0) {
      this.pcW[0]++;
      return;
    }
    this.slowGet(n === undefined ? 1 : checkN(this.what, 'get', n), 'get');
  }

  put(n?: number): void {
    if (n === undefined && this.modeW[0] === 0) {
      this.pcW[0]--;
      return;
    }
    this.slowPut(n === undefined ? 1 : checkN(this.what, 'put', n));
  }

  /** Take a reference unless the count is zero. */
  tryGet(n?: number): boolean {
    if (n === undefined && this.modeW[0] === 0) {
      this.pcW[0]++;
      return true;
    }
    return this.slowGet(n === undefined ? 1 : checkN(this.what, 'tryGet', n), 'tryGet');
  }

  /** Take a reference unless the ref is dying (guaranteed to fail once a kill is confirmed). */
  tryGetLive(n?: number): boolean {
    if (n === undefined && this.modeW[0] === 0) {
      this.pcW[0]++;
      return true;
    }
    return this.slowGet(n === undefined ? 1 : checkN(this.what, 'tryGetLive', n), 'tryGetLive');
  }

  /** get() + a guard whose release() is put(); lockdep sees the ref's class held for read. */
  hold(): RefGuard {
    const h = ld.on ? ld.acquire(this.lockdepClass, 'read', { wait: 'none', instance: this }) : null;
    try {
      this.get();
    } catch (e) {
      ld.abandon(h);
      throw e;
    }
    return new RefGuard(this, h);
  }

  // ---- slow paths (atomic mode, or exited) ------------------------------------------------------

  private useAfterExit(op: string): QuiesceError {
    return new QuiesceError('ERR_USE_AFTER_EXIT', `${this.what}: ${op} after exit()`);
  }

  private slowGet(n: number, op: 'get' | 'tryGet' | 'tryGetLive'): boolean {
    const i32 = this.i32;
    const m = this.checkLive(`${op}()`);
    if (m === 0) {
      i32[this.pc] += n; // switched back meanwhile: the ordinary percpu path
      return true;
    }
    if (op === 'tryGetLive' && m & PR_M_DEAD) return false;
    const w = this.h + PR_COUNT;
    for (;;) {
      const c = Atomics.load(i32, w);
      if (op !== 'get' && c === 0) return false; // inc_not_zero
      if (c + n > INT32_MAX) {
        // During a switch to atomic, COUNT still holds the percpu bias until the fold: the limit is
        // the word's, and the count it would report is not the ref's.
        const why = Atomics.load(i32, this.h + PR_BIASED) !== 0 ? 'the count word (it holds the 2^30 percpu bias until this switch to atomic mode folds)' : `the count (count ${c})`;
        throw new QuiesceError('ERR_REFCOUNT_OVERFLOW', `${this.what}: ${op}(${n}) would take ${why} past 2^31-1; nothing was taken`);
      }
      if (Atomics.compareExchange(i32, w, c, c + n) === c) break;
    }
    i32[this.at] += n;
    return true;
  }

  private slowPut(n: number): void {
    const i32 = this.i32;
    const m = this.checkLive('put()');
    if (m === 0) {
      i32[this.pc] -= n;
      return;
    }
    // Attribution first: a put that releases the ref wakes the creator's onRelease (and any
    // drainer) on another thread, which must not see this thread still "holding" what it put.
    // The release's Atomics RMW on RELEASES follows this plain store in program order, so the
    // woken thread's Atomics load of RELEASES makes it visible.
    i32[this.at] -= n;
    try {
      this.countSub(n, 'put');
    } catch (e) {
      i32[this.at] += n; // underflow: nothing was put
      throw e;
    }
  }

  /** COUNT -= n with the underflow check before the write; signals a release at zero. */
  private countSub(n: number, op: string): void {
    const i32 = this.i32;
    const w = this.h + PR_COUNT;
    for (;;) {
      const c = Atomics.load(i32, w);
      if (c - n < 0) {
        throw new QuiesceError(
          'ERR_REFCOUNT_UNDERFLOW',
          `${this.what}: ${op}${n === 1 ? '' : `(${n})`} would take the count below zero (count ${c}, unchanged): more puts than gets`,
          { ref: this.name, count: c, n },
        );
      }
      if (Atomics.compareExchange(i32, w, c, c - n) === c) {
        if (c - n === 0) this.released();
        return;
      }
    }
  }

  private released(): void {
    Atomics.add(this.i32, this.h + PR_RELEASES, 1);
    this.bump();
  }

  /** @internal wake the waiters on EVENTS after a state change, if any may sleep (header: wake-ups). */
  bump(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, this.h + PR_WAITERS) === 0) return;
    Atomics.add(i32, this.h + PR_EVENTS, 1);
    Atomics.notify(i32, this.h + PR_EVENTS);
  }

  /** Count this thread/task as a possible sleeper on EVENTS; BEFORE it loads EVENTS and re-checks. */
  private waitBegin(): void {
    Atomics.add(this.i32, this.h + PR_WAITERS, 1);
  }

  private waitEnd(): void {
    Atomics.sub(this.i32, this.h + PR_WAITERS, 1);
  }

  // ---- state queries ---------------------------------------------------------------------------------

  private checkLive(op: string, plain = false): number {
    if (this.core.slot < 0) this.core.checkAttached(this.what); // build the name only to throw
    // plain: killAll's up-front check of every ref (checkBatch), which only refuses the whole batch
    // early; the mark's CAS decides (a kill or exit racing with it makes that ref fail alone,
    // kill-all.ts step 1), so a stale value costs nothing, and an Atomics.load, a builtin call in
    // V8 11, cost ~20 ns per ref there (about a tenth of a 10,000-ref teardown).
    const m = plain ? this.i32[this.mode]! : Atomics.load(this.i32, this.mode);
    if (m & PR_M_EXITED) throw this.useAfterExit(op);
    return m;
  }

  /** True once the count is zero (only possible in atomic mode). */
  isZero(): boolean {
    const m = this.checkLive('isZero()');
    return (m & PR_M_ATOMIC) !== 0 && Atomics.load(this.i32, this.h + PR_BIASED) === 0 && Atomics.load(this.i32, this.h + PR_COUNT) === 0;
  }

  /** True once killed (percpu_ref_is_dying). */
  isDying(): boolean {
    return (this.checkLive('isDying()') & PR_M_DEAD) !== 0;
  }

  /** @internal */
  isReleased(): boolean {
    const i32 = this.i32;
    const m = Atomics.load(i32, this.mode);
    return (m & (PR_M_DEAD | PR_M_SWITCHING)) === PR_M_DEAD && Atomics.load(i32, this.h + PR_BIASED) === 0 && Atomics.load(i32, this.h + PR_COUNT) === 0;
  }

  /** Per-thread net references and the mode, for reports and tests. */
  inspect(): RefState {
    const { i32, core } = this;
    const m = Atomics.load(i32, this.mode);
    const biased = Atomics.load(i32, this.h + PR_BIASED) !== 0;
    let sum = 0;
    const holders: RefHolder[] = [];
    for (let t = 0; t < core.g.maxThreads; t++) {
      const base = percpuWord(core.g, t, this.pcpu);
      const p = Atomics.load(i32, base + PR_PC_COUNT);
      sum = (sum + p) | 0;
      const held = (p + Atomics.load(i32, base + PR_PC_ATOMIC)) | 0;
      if (held !== 0) holders.push({ thread: t, description: core.threads.describe(t), alive: core.threads.isAlive(t), held });
    }
    const c = Atomics.load(i32, this.h + PR_COUNT);
    const count = biased ? (c - PR_BIAS + ((sum - Atomics.load(i32, this.h + PR_FOLDED)) | 0)) | 0 : c;
    return {
      mode: m & PR_M_SWITCHING ? 'switching' : m & PR_M_ATOMIC ? 'atomic' : 'percpu',
      dead: (m & PR_M_DEAD) !== 0,
      exited: (m & PR_M_EXITED) !== 0,
      count,
      releases: Atomics.load(i32, this.h + PR_RELEASES),
      holders,
    };
  }

  private holdersText(holders: RefHolder[]): string {
    if (holders.length === 0) return 'no thread holds a reference';
    return holders.map((x) => `${x.description} ${x.held > 0 ? `holds ${x.held}` : `put ${-x.held} more than it got`}`).join('; ');
  }

  // ---- switching ----------------------------------------------------------------------------------

  private allowReinit(): boolean {
    return (this.i32[this.h + PR_FLAGS]! & PR_F_ALLOW_REINIT) !== 0;
  }

  /**
   * CAS MODE from `m` to `next`; if `next` claims SWITCHING, this thread owns the switch (a new
   * SwitchRun; taking the switch's own reference, unless `standIn`: a kill's initial reference
   * stands in for it, as in killAll's mark). Returns the run, or null if the CAS failed.
   * The token is drawn BEFORE the CAS: from the CAS to the store of SWITCHER and COUNT there are
   * only Atomics, no call a terminate() could stop this thread at (header: "terminate()").
   */
  private claim(m: number, next: number, standIn = false): SwitchRun | null {
    const i32 = this.i32;
    const token = this.newToken();
    if (Atomics.compareExchange(i32, this.mode, m, next) !== m) return null;
    const no = Atomics.add(i32, this.h + PR_SWITCH_NO, 1) + 1;
    Atomics.store(i32, this.h + PR_SWITCHER, token);
    if (!standIn) Atomics.add(i32, this.h + PR_COUNT, 1); // the switch's own reference (kernel: get before call_rcu)
    return this.own(m & PR_M_ATOMIC ? -1 : this.rcu.gp.snap(), token, no);
  }

  /**
   * This thread now owns the switch under `token` (claim(), takeOver(), adoptBatch()): its run
   * becomes this.run and the token a live one (newToken()) until retire().
   */
  private own(snap: number, token: number, no: number): SwitchRun {
    const run = newRun(snap, token, no);
    this.run = run;
    this.liveTokens.add(token);
    return run;
  }

  /** This driver is done with `run` (finish() or lose()). False if it already was. */
  private retire(run: SwitchRun): boolean {
    if (run.finished) return false;
    run.finished = true;
    this.liveTokens.delete(run.token);
    if (this.run === run) this.run = null;
    return true;
  }

  /**
   * A token no other ownership of this ref's switches has (header: switch ownership). The epoch
   * wraps after PR_SW_EPOCHS draws on this ref: a draw equal to the token of one of this thread's
   * own unfinished (stale) runs is skipped, or that run's driver would take the new switch for its
   * own and fold it on its old grace period. (Another thread's tokens differ in the slot bits.)
   */
  private newToken(): number {
    for (;;) {
      const seq = Atomics.add(this.i32, this.h + PR_SWITCH_SEQ, 1) >>> 0;
      const token = (((seq % PR_SW_EPOCHS) + 1) << PR_SW_EPOCH_SHIFT) | (this.core.slot + 1);
      if (!this.liveTokens.has(token)) return token;
    }
  }
  /** Tokens of this thread's SwitchRuns of this ref not finished yet (see newToken()). */
  private readonly liveTokens = new Set<number>();

  /**
   * Advance the switch this thread owns. 'gp': wait for run.snap first; 'done': this driver ended
   * the switch and dropped its reference (finish() reports and confirms); 'lost': the switch was ended by another driver, or
   * SWITCHER no longer names this thread: nothing left to do here but the confirmations.
   */
  private advance(run: SwitchRun): 'gp' | 'done' | 'lost' {
    const i32 = this.i32;
    const sw = this.h + PR_SWITCHER;
    const tok = run.token;
    if (Atomics.load(i32, sw) !== tok) return 'lost';
    const m0 = Atomics.load(i32, this.mode);
    if (!(m0 & PR_M_SWITCHING)) return 'lost';
    if (!(m0 & PR_M_EXITED) && Atomics.load(i32, this.h + PR_BIASED) && run.snap !== -1 && !this.rcu.gp.done(run.snap)) return 'gp';
    // The rest is synchronous, and exclusive: BUSY is claimed with ONE CAS from our own token, so
    // a driver that lost the switch (taken over while it was blocked) can neither fold nor end it.
    if (Atomics.compareExchange(i32, sw, tok, tok | PR_SW_BUSY) !== tok) return 'lost';
    for (;;) {
      const m = Atomics.load(i32, this.mode);
      if (m & PR_M_EXITED) break; // exit() mid-switch: SWITCHING stays set, the switch just ends
      if (Atomics.load(i32, this.h + PR_BIASED)) {
        this.fold(run); // the grace period is done (checked above), or none is needed (snap -1)
        continue;
      }
      this.handBack(run); // before the CAS that ends the switch (header: hand-back)
      if (!(m & (PR_M_DEAD | PR_M_FORCE)) && this.allowReinit()) {
        // switch back to percpu: bias first, then publish the mode (the kernel's smp_store_release)
        Atomics.add(i32, this.h + PR_COUNT, PR_BIAS);
        Atomics.store(i32, this.h + PR_BIASED, 1);
        if (Atomics.compareExchange(i32, this.mode, m, 0) === m) break;
        run.snap = -1; // nobody saw percpu mode: fold back at once
        continue;
      }
      // m has SWITCHING set (only BUSY's holder clears it): this CAS ends the switch, once
      if (Atomics.compareExchange(i32, this.mode, m, m & ~PR_M_SWITCHING) === m) break;
    }
    // The switch has ended: drop its own reference HERE, right after the CAS that ended it, with
    // no call in between (header: "terminate()"). A checked decrement: an excess put on another
    // thread may have taken that reference since the fold (then it released the ref; finish()
    // reports it). A release is counted at once; finish() wakes the waiters.
    const w = this.h + PR_COUNT;
    let c = Atomics.load(i32, w);
    while (c > 0) {
      const x = Atomics.compareExchange(i32, w, c, c - 1);
      if (x === c) break;
      c = x;
    }
    if (c === 1) Atomics.add(i32, this.h + PR_RELEASES, 1); // released (released(), bump() in finish())
    run.dropped = c;
    // A new switch may already have stored its token: then this CAS fails, as it should.
    Atomics.compareExchange(i32, sw, tok | PR_SW_BUSY, 0);
    return 'done';
  }

  /** Step 3 of the header: add the per-thread counters into COUNT in one Atomics.add. */
  private fold(run: SwitchRun): void {
    const { i32, core } = this;
    let sum = 0;
    const hi = run.hi ?? core.g.maxThreads - 1;
    for (let t = 0; t <= hi; t++) sum = (sum + i32[percpuWord(core.g, t, this.pcpu) + PR_PC_COUNT]!) | 0;
    const delta = (sum - i32[this.h + PR_FOLDED]!) | 0;
    Atomics.store(i32, this.h + PR_FOLDED, sum);
    const old = Atomics.add(i32, this.h + PR_COUNT, (delta - PR_BIAS) | 0);
    Atomics.store(i32, this.h + PR_BIASED, 0);
    const total = ((old + delta - PR_BIAS) | 0) - 1; // minus the switch's own reference
    const dead = (Atomics.load(i32, this.mode) & PR_M_DEAD) !== 0;
    const min = dead ? 0 : 1;
    if (total < min) {
      Atomics.add(i32, this.h + PR_COUNT, min - total); // discard the excess puts: a consistent ref
      const holders = this.inspect().holders;
      const err = new QuiesceError(
        'ERR_REFCOUNT_UNDERFLOW',
        `${this.what}: count ${total} after switching to atomic (${dead ? 'dead' : 'live'}; must be >= ${min}): more puts than gets in percpu mode; ` +
          `the excess was discarded (count now ${min}). Per thread: ${this.holdersText(holders)}`,
        { ref: this.name, count: total, holders },
      );
      process.emitWarning(err.message, { code: 'ERR_REFCOUNT_UNDERFLOW', type: 'QuiesceWarning' });
      run.error ??= err;
    }
  }

  /**
   * advance(), holding BUSY, right before each CAS that may end the switch: if the switch was taken
   * over (PR_SW_ORIGIN holds its original owner's token), hand the fold's verdict to that owner:
   * origin | ERR if this run found an imbalance, else 0 (header: switch ownership, "hand-back").
   * Called again if that CAS fails and the loop folds again: the run keeps the origin it read.
   */
  private handBack(run: SwitchRun): void {
    const w = this.h + PR_SW_ORIGIN;
    if (run.origin === 0) {
      const o = Atomics.load(this.i32, w);
      if (o === 0 || o & PR_SW_ORIGIN_ERR) return; // not taken over (an older switch's unread hand-back stays)
      run.origin = o;
    }
    Atomics.store(this.i32, w, run.error ? run.origin | PR_SW_ORIGIN_ERR : 0);
  }

  /**
   * A lost run's error: the one its switch's final owner handed back to it, if it started that
   * switch (header: "hand-back"). Only once the switch has ended (the caller saw SWITCHING clear,
   * SWITCH_NO move on, or EXITED). Read once per run: its confirmations and a waiter may both ask.
   */
  private handedBack(run: SwitchRun): QuiesceError | undefined {
    if (!run.handBackRead) {
      run.handBackRead = true;
      run.error ??= this.takeHandBack(run.token);
    }
    return run.error;
  }

  /**
   * @internal The imbalance handed back to the owner whose token is `token`, taken once (CAS to 0),
   * as this thread's error (not warned again: the thread that folded warned). Only after the switch
   * ended (handedBack(); killAll after its drain of the ref).
   */
  takeHandBack(token: number): QuiesceError | undefined {
    const v = token | PR_SW_ORIGIN_ERR;
    if (Atomics.compareExchange(this.i32, this.h + PR_SW_ORIGIN, v, 0) !== v) return undefined;
    const holders = this.inspect().holders;
    return new QuiesceError(
      'ERR_REFCOUNT_UNDERFLOW',
      `${this.what}: more puts than gets in percpu mode, found by the fold of the switch to atomic mode this call started, ` +
        `which another thread took over and completed while this one was blocked; the excess was discarded there (see that thread's warning). ` +
        `Per thread: ${this.holdersText(holders)}`,
      { ref: this.name, holders, takenOver: true },
    );
  }

  /**
   * The switch this thread owned is done (advance() ended it and dropped the switch's reference):
   * wake the waiters (the end, and a release that drop made), report a reference an excess put
   * took, confirm. Only for the driver whose advance() said 'done'; a driver that lost it calls
   * lose() instead: the switch's reference is dropped once, by whoever ended the switch.
   */
  private finish(run: SwitchRun): void {
    if (!this.retire(run)) return;
    run.ended = true;
    this.bump();
    if (run.dropped <= 0) run.error ??= this.switchRefTaken(); // reported, never thrown out of a driver
    for (const c of run.confirms) c(run.error);
  }

  /**
   * @internal The reference a switch still had to drop at its end (its own, or killAll's initial
   * reference standing in for it) was taken by an excess atomic-mode put on another thread, after
   * the fold: that put released the ref. Warn naming the ref; the switching call reports it.
   */
  switchRefTaken(): QuiesceError {
    const holders = this.inspect().holders;
    const err = new QuiesceError(
      'ERR_REFCOUNT_UNDERFLOW',
      `${this.what}: a put took the reference the switch to atomic mode still held (the count was already 0 at the end of the switch): ` +
        `more puts than gets. Per thread: ${this.holdersText(holders)}`,
      { ref: this.name, count: 0, holders },
    );
    process.emitWarning(err.message, { code: 'ERR_REFCOUNT_UNDERFLOW', type: 'QuiesceWarning' });
    return err;
  }

  /**
   * advance() said 'lost': another thread took the switch over (this one was blocked) or ended it.
   * Drop nothing; confirm once that switch has ended (its new owner folds it; SWITCH_NO moves on
   * only when a later switch is claimed, which needs this one ended).
   */
  private lose(run: SwitchRun): void {
    if (!this.retire(run)) return;
    if (run.confirms.length > 0) void this.confirmWhenEnded(run);
  }

  private async confirmWhenEnded(run: SwitchRun): Promise<void> {
    const i32 = this.i32;
    const confirms = run.confirms.splice(0);
    holdEventLoop();
    this.waitBegin();
    try {
      for (;;) {
        const ev = Atomics.load(i32, this.h + PR_EVENTS);
        const m = Atomics.load(i32, this.mode);
        if (m & PR_M_EXITED || !(m & PR_M_SWITCHING) || Atomics.load(i32, this.h + PR_SWITCH_NO) !== run.no) break;
        await waitOn(i32, this.h + PR_EVENTS, ev, new Deadline(undefined), undefined, () => abortedError(this.what, 'switch', undefined), 50);
      }
    } finally {
      this.waitEnd();
      releaseEventLoop();
    }
    const err = this.handedBack(run);
    for (const c of confirms) c(err);
  }

  /** One driver step: 'gp' (wait, then call again) or 'over' (this driver is done with the run). */
  private step(run: SwitchRun): 'gp' | 'over' {
    const a = this.advance(run);
    if (a === 'gp') return 'gp';
    if (a === 'done') this.finish(run);
    else this.lose(run);
    return 'over';
  }

  private async driveAsync(run: SwitchRun): Promise<void> {
    holdEventLoop();
    try {
      while (!run.finished) {
        if (this.step(run) === 'over') return;
        await this.rcu.gp.waitAsync(run.snap, new Deadline(undefined), undefined, () => abortedError(this.what, 'switch', undefined));
      }
    } finally {
      releaseEventLoop();
    }
  }

  /** Drive this thread's switch synchronously (a *Sync caller must not wait for its own async task). */
  private driveSync(run: SwitchRun, deadline: Deadline): boolean {
    while (!run.finished) {
      if (this.step(run) === 'over') return true;
      if (!this.rcu.gp.waitSync(run.snap, deadline)) return false;
    }
    return true;
  }

  /**
   * If the switch's owner is not ONLINE (dead, detached, or blocked in one of quiesce's own *Sync
   * waits, whose async driver cannot run until it wakes: SPEC §3), take the switch over with a
   * fresh token and grace period. Returns the run if this thread now owns it. The old owner, when
   * it wakes, finds SWITCHER no longer holding its token (advance() 'lost'). An owner holding BUSY
   * is inside a synchronous fold/end: never blocked there, so it is only taken from if dead (a
   * worker terminated mid-fold: that fold may be half done, as it always could).
   */
  private takeOver(): SwitchRun | null {
    const i32 = this.i32;
    if (this.core.slot < 0) return null;
    const s = Atomics.load(i32, this.h + PR_SWITCHER);
    if (s === 0) return null; // none, or an end in progress
    const owner = (s & PR_SW_SLOT_MASK) - 1;
    if (owner === this.core.slot) return null; // ours: this.run, or a killAll mark of ours
    if (this.core.threads.canRun(owner) || (s & PR_SW_BUSY && this.core.threads.blockedInWait(owner))) return null;
    if (!(Atomics.load(i32, this.mode) & PR_M_SWITCHING)) return null;
    const token = this.newToken();
    if (Atomics.compareExchange(i32, this.h + PR_SWITCHER, s, token) !== s) return null;
    // The first takeover of this switch records the owner it replaced, for the hand-back (header).
    // From the SWITCHER CAS on, that owner cannot end the switch: nobody else writes ORIGIN until
    // the end, but a lost owner taking an older hand-back (CAS to 0): hence the loop.
    for (;;) {
      const o = Atomics.load(i32, this.h + PR_SW_ORIGIN);
      if ((o !== 0 && !(o & PR_SW_ORIGIN_ERR)) || Atomics.compareExchange(i32, this.h + PR_SW_ORIGIN, o, s & ~PR_SW_BUSY) === o) break;
    }
    const no = Atomics.load(i32, this.h + PR_SWITCH_NO);
    return this.own(this.rcu.gp.snap(), token, no); // the old owner's switch reference stays in COUNT: our advance() drops it
  }

  /**
   * A killAll on THIS thread marked this ref and folds it after its grace period, in an async
   * continuation that cannot run while this thread blocks in a *Sync wait: take the ref out of the
   * batch (which skips a ref whose `batch` is no longer its own) and own its switch as a SwitchRun
   * with the batch's grace period. The batch's mark is a claim() whose initial reference stands in
   * for the switch's own reference, so advance()/finish() complete it exactly as they would a kill.
   * The run gets a fresh token (one CAS from the mark's): every killAll mark of this thread writes
   * the same epoch-0 token, so a run keeping it could, once stale (handed to an async driver, then
   * taken over), match a LATER killAll's mark and fold that switch on its own, old grace period.
   * If SWITCHER no longer holds the mark, the switch was taken over from it: nothing to adopt, and
   * the ref stays in the batch, whose fold finds it lost and takes its hand-back (header).
   */
  private adoptBatch(): SwitchRun | null {
    if (this.batch === 0) return null;
    const kb = unfoldedBatch(this.batch);
    if (kb === undefined) return null; // not reachable: a fold clears the batch of each ref it reaches
    const mark = this.core.slot + 1;
    if (Atomics.load(this.i32, this.h + PR_SWITCHER) !== mark) return null;
    const token = this.newToken();
    if (Atomics.compareExchange(this.i32, this.h + PR_SWITCHER, mark, token) !== mark) return null;
    this.batch = 0;
    return this.own(kb.snap, token, 0);
  }

  /**
   * @internal domain.detach(): complete, synchronously, every switch this thread owns (its own
   * runs and the refs a killAll on this thread marked but has not folded yet). Its async drivers
   * keep running after detach() (the event loop goes on): left in flight, the switch would look
   * ownerless (the slot is FREE) and be taken over and ended twice (percpu-ref.ts header).
   */
  completeOwnSwitchesSync(): void {
    for (;;) {
      const run = this.run ?? this.adoptBatch();
      if (!run) return;
      this.runDriven.add(run); // an async driver of it, if any, finds it finished
      this.driveSync(run, new Deadline(undefined));
    }
  }

  /** Resolve once no switch is in flight (driving or taking over our own/dead owners' switches). */
  private async switchesDone(deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs?: number): Promise<QuiesceError | undefined> {
    const i32 = this.i32;
    holdEventLoop();
    this.waitBegin();
    try {
      let mine: SwitchRun | null = null; // a switch this thread owns (it may end while we wait)
      let lost: SwitchRun | null = null; // a run of ours that another thread took over: its hand-back
      for (;;) {
        const ev = Atomics.load(i32, this.h + PR_EVENTS);
        if (mine?.finished) {
          if (mine.ended) return mine.error;
          lost ??= mine;
          mine = null; // lost (taken over): the switch goes on; re-check it, take it over if need be
        }
        const m = Atomics.load(i32, this.mode);
        if (!(m & PR_M_SWITCHING) || m & PR_M_EXITED) {
          // The switch ended. A run of ours that is not finished was ended by another thread (ours
          // would have finished in the same synchronous step): lost, its driver just has not run yet.
          lost ??= mine;
          return lost ? this.handedBack(lost) : undefined;
        }
        mine ??= this.run ?? this.takeOver();
        if (mine && !this.runDriven.has(mine)) this.startAsync(mine);
        // Our own switch ends with finish(): finished, then bump() (we are counted in WAITERS, so
        // it notifies EVENTS). Waiting for that on EVENTS rather than for the run's confirmation
        // keeps this wait under the caller's deadline and signal: a busy thread can hold up the
        // grace period for as long as it likes. The driver goes on in the background either way.
        if (mine?.finished) continue; // the top of the loop returns its error, or re-checks a lost run
        if ((await waitOn(i32, this.h + PR_EVENTS, ev, deadline, signal, () => abortedError(this.what, op, signal), 50)) === 'timed-out') {
          throw timeoutError(this.what, op, timeoutMs);
        }
      }
    } finally {
      this.waitEnd();
      releaseEventLoop();
    }
  }
  private readonly runDriven = new WeakSet<SwitchRun>();

  private startAsync(run: SwitchRun): void {
    this.runDriven.add(run);
    void this.driveAsync(run);
  }

  private switchesDoneSync(deadline: Deadline, op: string, timeoutMs?: number): QuiesceError | undefined {
    this.waitBegin();
    try {
      return this.switchesDoneSyncCounted(deadline, op, timeoutMs);
    } finally {
      this.waitEnd();
    }
  }

  private switchesDoneSyncCounted(deadline: Deadline, op: string, timeoutMs?: number): QuiesceError | undefined {
    const i32 = this.i32;
    let lost: SwitchRun | null = null; // a run of ours that another thread took over: its hand-back
    for (;;) {
      const ev = Atomics.load(i32, this.h + PR_EVENTS);
      const m = Atomics.load(i32, this.mode);
      if (!(m & PR_M_SWITCHING) || m & PR_M_EXITED) return lost ? this.handedBack(lost) : undefined;
      const mine = this.run ?? this.adoptBatch() ?? this.takeOver();
      if (mine) {
        const driven = this.runDriven.has(mine);
        this.runDriven.add(mine); // an async driver of it, if any, finds it finished
        if (!this.driveSync(mine, deadline)) {
          if (!mine.finished && !driven) void this.driveAsync(mine); // hand it to an async driver (a second one would only wait twice: advance() re-checks the grace period)
          throw timeoutError(this.what, op, timeoutMs);
        }
        if (mine.ended) return mine.error;
        lost ??= mine;
        continue; // lost (taken over while blocked): the switch may still be in flight
      }
      if (blockOn(i32, this.h + PR_EVENTS, ev, deadline, 50) === 'timed-out') throw timeoutError(this.what, op, timeoutMs);
    }
  }

  /** Set DEAD (and ATOMIC); drop the initial reference. Returns the run if this thread owns the switch. */
  private markDead(op: string): { run: SwitchRun | null; snap: number; wasFolded: boolean } {
    const i32 = this.i32;
    for (;;) {
      const m = this.checkLive(op);
      if (m & PR_M_DEAD) throw new QuiesceError('ERR_ALREADY_DYING', `${this.what}: ${op} on a ref that is already dying (killed once already)`);
      const folded = (m & (PR_M_ATOMIC | PR_M_SWITCHING)) === PR_M_ATOMIC;
      let run: SwitchRun | null = null;
      let c = 1; // COUNT before the initial reference was dropped here (<= 0: it was already put)
      if (m & (PR_M_ATOMIC | PR_M_SWITCHING)) {
        if (Atomics.compareExchange(i32, this.mode, m, m | PR_M_DEAD) !== m) continue;
        // Drop the initial reference right after the CAS that set DEAD, with no call in between
        // (header: "terminate()"); checked, as countSub() does.
        const w = this.h + PR_COUNT;
        c = Atomics.load(i32, w);
        while (c > 0) {
          const x = Atomics.compareExchange(i32, w, c, c - 1);
          if (x === c) break;
          c = x;
        }
        if (c === 1) Atomics.add(i32, this.h + PR_RELEASES, 1); // released (released(); bump() below)
      } else {
        // The initial reference stands in for the switch's own reference (as killAll's mark does):
        // the end of the switch drops it (advance()), so COUNT is not touched here at all.
        run = this.claim(m, m | PR_M_DEAD | PR_M_ATOMIC | PR_M_SWITCHING, true);
        if (!run) continue;
      }
      const snap = this.rcu.gp.snap();
      if (c <= 0) {
        // The initial reference was already put (imbalance): the ref is dead with count 0.
        const msg = `${this.what}: ${op} (dropping the initial reference) would take the count below zero (count ${c}, unchanged): more puts than gets`;
        process.emitWarning(msg, { code: 'ERR_REFCOUNT_UNDERFLOW', type: 'QuiesceWarning' });
      }
      this.bump();
      return { run, snap, wasFolded: folded };
    }
  }

  /** Drop the initial reference and switch to atomic mode (percpu_ref_kill). */
  kill(): void {
    const { run } = this.markDead('kill()');
    if (run) this.startAsync(run);
  }

  /** kill(), then run `onConfirm` on this thread once every thread sees the ref dead. */
  killAndConfirm(onConfirm: () => void): void {
    if (typeof onConfirm !== 'function') throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: killAndConfirm(onConfirm) needs a function`);
    const { run, snap, wasFolded } = this.markDead('killAndConfirm()');
    // The callback's error is the caller's: re-thrown as an uncaught exception (as onRelease's),
    // never out of whatever ends the switch (a *Sync drain, detach(), which must finish detaching).
    const confirm = (): void => {
      try {
        onConfirm();
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    };
    if (run) {
      run.confirms.push(confirm);
      this.startAsync(run);
      return;
    }
    if (wasFolded) {
      queueMicrotask(confirm); // atomic mode: tryGetLive reads MODE with Atomics.load
      return;
    }
    // a switch of another thread is in flight: a grace period after our DEAD store, and its end
    void (async () => {
      await this.rcu.gp.waitAsync(snap, new Deadline(undefined), undefined, () => abortedError(this.what, 'killAndConfirm()', undefined));
      await this.switchesDone(new Deadline(undefined), undefined, 'killAndConfirm()');
      confirm();
    })();
  }

  /** Switch to atomic mode (sticky until switchToPercpu()); resolves once the switch is done. */
  async switchToAtomic(): Promise<void> {
    for (;;) {
      const m = this.checkLive('switchToAtomic()');
      if (m & PR_M_SWITCHING) {
        if (Atomics.compareExchange(this.i32, this.mode, m, m | PR_M_FORCE | PR_M_ATOMIC) !== m) continue;
        const err = await this.switchesDone(new Deadline(undefined), undefined, 'switchToAtomic()');
        if (err) throw err;
        return;
      }
      if (m & PR_M_ATOMIC) {
        if (Atomics.compareExchange(this.i32, this.mode, m, m | PR_M_FORCE) !== m) continue;
        return;
      }
      const run = this.claim(m, m | PR_M_FORCE | PR_M_ATOMIC | PR_M_SWITCHING);
      if (!run) continue;
      this.bump();
      const p = new Promise<QuiesceError | undefined>((r) => run.confirms.push(r));
      this.startAsync(run);
      const err = await p;
      if (err) throw err;
      return;
    }
  }

  /** Back to percpu mode (only with allowReinit). On a dying ref it takes effect at the next reinit(). */
  switchToPercpu(): void {
    for (;;) {
      const m = this.checkLive('switchToPercpu()');
      if (m & PR_M_ATOMIC && !this.allowReinit()) {
        throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: switchToPercpu() needs a ref created with allowReinit (or initAtomic/initDead)`);
      }
      const next = m & ~PR_M_FORCE;
      if (m & PR_M_SWITCHING || !(m & PR_M_ATOMIC) || m & PR_M_DEAD) {
        // in flight: its owner re-evaluates (its final CAS fails); dead: reinit() switches
        if (Atomics.compareExchange(this.i32, this.mode, m, next) !== m) continue;
        return;
      }
      const run = this.claim(m, next | PR_M_SWITCHING);
      if (!run) continue;
      this.switchSync(run);
      return;
    }
  }

  /** Run a switch that needs no grace period (switch back) to its end, synchronously. */
  private switchSync(run: SwitchRun): void {
    run.snap = -1;
    if (!this.driveSync(run, new Deadline(undefined))) this.startAsync(run);
    else this.bump();
  }

  /** Make a dying (not yet exited) ref live again, in the mode it had before kill (percpu_ref_resurrect). */
  resurrect(): void {
    this.revive('resurrect()', false);
  }

  /** Make a released ref live again with count 1 (percpu_ref_reinit). */
  reinit(): void {
    this.revive('reinit()', true);
  }

  private revive(op: string, needZero: boolean): void {
    const i32 = this.i32;
    const m0 = this.checkLive(op);
    if (!(m0 & PR_M_DEAD)) throw new QuiesceError('ERR_NOT_DYING', `${this.what}: ${op} on a ref that is not dying (kill it first)`);
    if (!this.allowReinit()) throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: ${op} needs a ref created with allowReinit (or initAtomic/initDead)`);
    if (needZero && !this.isReleased()) {
      throw new QuiesceError('ERR_INVALID_ARG', `${this.what}: reinit() on a ref that is not released yet (count ${this.inspect().count}); use resurrect()`);
    }
    // Take the new initial reference BEFORE clearing DEAD: a concurrent last put then cannot
    // release a ref that is being resurrected. The switch's token is drawn before it, and the
    // switch below is claimed inline: no call may separate this add from the CAS that clears DEAD
    // (header: "terminate()"), or a thread stopped there would leave a dead ref holding it.
    const token = this.newToken();
    Atomics.add(i32, this.h + PR_COUNT, 1);
    for (;;) {
      const m = Atomics.load(i32, this.mode);
      if (!(m & PR_M_DEAD) || m & PR_M_EXITED) {
        // Another revive (any thread) won the race since the check above, or exit() came first:
        // give the reference back, and this call changes nothing (the kernel serialises revives
        // under percpu_ref_switch_lock; the loser WARNs). COUNT keeps the winner's reference.
        this.countSub(1, `${op} (giving back the reference it took)`);
        if (m & PR_M_EXITED) throw this.useAfterExit(op);
        throw new QuiesceError('ERR_NOT_DYING', `${this.what}: ${op} on a ref that is not dying (a concurrent resurrect() or reinit() revived it first)`);
      }
      const next = m & ~PR_M_DEAD;
      if (m & PR_M_SWITCHING || m & PR_M_FORCE || !(m & PR_M_ATOMIC)) {
        if (Atomics.compareExchange(i32, this.mode, m, next) !== m) continue;
        break;
      }
      // claim(), inline with the token drawn above (m is ATOMIC: no grace period)
      if (Atomics.compareExchange(i32, this.mode, m, next | PR_M_SWITCHING) !== m) continue;
      const no = Atomics.add(i32, this.h + PR_SWITCH_NO, 1) + 1;
      Atomics.store(i32, this.h + PR_SWITCHER, token);
      Atomics.add(i32, this.h + PR_COUNT, 1); // the switch's own reference
      this.switchSync(this.own(-1, token, no));
      break;
    }
    this.bump();
  }

  /** The ref is gone for good (percpu_ref_exit): any later use throws ERR_USE_AFTER_EXIT. */
  exit(): void {
    this.checkLive('exit()');
    if (ld.on) ld.freeing(this, `${this.what}.exit()`);
    Atomics.or(this.i32, this.mode, PR_M_EXITED);
    this.bump();
  }

  // ---- draining -------------------------------------------------------------------------------------

  private drainError(code: 'ERR_TIMEOUT' | 'ERR_ABORTED', op: string, timeoutMs: number | undefined, signal: AbortSignal | undefined): QuiesceError {
    const st = this.inspect();
    const sw = this.switchInFlight();
    const details = { ref: this.name, count: st.count, holders: st.holders, ...(sw ? { switchOwner: sw.owner } : {}) };
    const of = sw ? `, 1 of it the own reference of a switch to atomic mode still in flight, owned by ${sw.text}` : '';
    const who = `still held (count ${st.count}${of}): ${this.holdersText(st.holders)}`;
    if (code === 'ERR_TIMEOUT') return timeoutError(`${this.what}`, `${op} (${who})`, timeoutMs, details);
    const e = abortedError(this.what, `${op} (${who})`, signal);
    return new QuiesceError('ERR_ABORTED', e.message.replace(/ \[ERR_ABORTED\]$/, ''), details);
  }

  /** A switch wait's ERR_TIMEOUT/ERR_ABORTED, as the drain's own (naming the holders); anything else as is. */
  private asDrainError(e: unknown, op: string, timeoutMs: number | undefined, signal: AbortSignal | undefined): unknown {
    if (e instanceof QuiesceError && (e.code === 'ERR_TIMEOUT' || e.code === 'ERR_ABORTED')) return this.drainError(e.code, op, timeoutMs, signal);
    return e;
  }

  /** A drain's switchesDone(): a switch's wait gives up with a bare ERR_TIMEOUT/ERR_ABORTED, a drain's names the holders. */
  private async drainSwitches(deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs: number | undefined): Promise<QuiesceError | undefined> {
    try {
      return await this.switchesDone(deadline, signal, op, timeoutMs);
    } catch (e) {
      throw this.asDrainError(e, op, timeoutMs, signal);
    }
  }

  /** A drain's switchesDoneSync() (see drainSwitches()). */
  private drainSwitchesSync(deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs: number | undefined): QuiesceError | undefined {
    try {
      return this.switchesDoneSync(deadline, op, timeoutMs);
    } catch (e) {
      throw this.asDrainError(e, op, timeoutMs, signal);
    }
  }

  /** The switch in flight (for reports): its owner's slot (-1: ending) and a description. */
  private switchInFlight(): { owner: number; text: string } | null {
    const m = Atomics.load(this.i32, this.mode);
    if (!(m & PR_M_SWITCHING) || m & PR_M_EXITED) return null;
    const owner = (Atomics.load(this.i32, this.h + PR_SWITCHER) & PR_SW_SLOT_MASK) - 1;
    return { owner, text: owner < 0 ? 'nobody (it is ending)' : this.core.threads.describe(owner) };
  }

  /** @internal */
  beforeDrain(kind: 'sync' | 'async', op: string): void {
    if (ld.on) ld.waitFor(this.lockdepClass, kind, `${this.what}.${op}`, this);
  }

  /**
   * A blocking drain inside an RCU read section would wait for itself (a switch's grace period
   * needs this thread's quiescent state; rcu/gp.ts waitSync throws from the middle of a switch this
   * thread drives, or adopted from its killAll, leaving it undriven): refused up front, as
   * synchronizeSync()/revokeSync() are (SPEC §3).
   */
  private checkNotInReadSection(op: string): void {
    if (this.rcu.inReadSection) throw new QuiesceError('ERR_RCU_MISUSE', `${this.what}: ${op} inside an RCU read section would wait for itself`);
  }

  private checkDying(op: string): void {
    const m = this.checkLive(op);
    if (!(m & PR_M_DEAD)) throw new QuiesceError('ERR_NOT_DYING', `${this.what}: ${op} on a ref that was not killed (it would never be released)`);
  }

  /** Released since RELEASES read r0 (or released now)? */
  private releasedSince(r0: number): boolean {
    return Atomics.load(this.i32, this.h + PR_RELEASES) !== r0 || this.isReleased();
  }

  /**
   * One look at a dying ref for a drain (both forms): released, a switch still in flight (the
   * caller finishes it its own way), or keep waiting. Exit and resurrection end the drain.
   */
  private drainStep(r0: number, op: string): 'released' | 'switching' | 'wait' {
    if (this.releasedSince(r0)) return 'released';
    const m = Atomics.load(this.i32, this.mode);
    if (m & PR_M_EXITED) throw this.useAfterExit(op);
    if (!(m & PR_M_DEAD)) throw new QuiesceError('ERR_NOT_DYING', `${this.what}: ${op}: the ref was resurrected before it was released`);
    return m & PR_M_SWITCHING ? 'switching' : 'wait';
  }

  /** @internal wait for the release; assumes dying. */
  async drainWait(deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs?: number): Promise<void> {
    const i32 = this.i32;
    const r0 = Atomics.load(i32, this.h + PR_RELEASES);
    const abort = (): Error => this.drainError('ERR_ABORTED', op, timeoutMs, signal);
    if (signal?.aborted) throw abort();
    let err = await this.drainSwitches(deadline, signal, op, timeoutMs);
    holdEventLoop();
    this.waitBegin();
    try {
      for (;;) {
        const ev = Atomics.load(i32, this.h + PR_EVENTS);
        const st = this.drainStep(r0, op);
        if (st === 'released') break;
        if (st === 'switching') {
          err ??= await this.drainSwitches(deadline, signal, op, timeoutMs);
          continue;
        }
        if ((await waitOn(i32, this.h + PR_EVENTS, ev, deadline, signal, abort)) === 'timed-out') {
          if (this.releasedSince(r0)) break;
          throw this.drainError('ERR_TIMEOUT', op, timeoutMs, signal);
        }
      }
    } finally {
      this.waitEnd();
      releaseEventLoop();
    }
    if (err) throw err;
  }

  /** Wait until the killed ref is released. ERR_TIMEOUT/ERR_ABORTED name the threads still holding references. */
  async drain(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.checkDying('drain()');
    this.beforeDrain('async', 'drain()');
    await this.drainWait(new Deadline(timeoutMs), signal, 'drain()', timeoutMs);
  }

  /** Blocking drain(). */
  drainSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.checkDying('drainSync()');
    this.checkNotInReadSection('drainSync()');
    this.beforeDrain('sync', 'drainSync()');
    this.drainWaitSync(new Deadline(timeoutMs), signal, 'drainSync()', timeoutMs);
  }

  private drainWaitSync(deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs?: number): void {
    const i32 = this.i32;
    if (signal?.aborted) throw this.drainError('ERR_ABORTED', op, timeoutMs, signal);
    const r0 = Atomics.load(i32, this.h + PR_RELEASES);
    let err = this.drainSwitchesSync(deadline, signal, op, timeoutMs);
    this.waitBegin();
    try {
      err = this.drainLoopSync(err, r0, deadline, signal, op, timeoutMs);
    } finally {
      this.waitEnd();
    }
    if (err) throw err;
  }

  private drainLoopSync(err: QuiesceError | undefined, r0: number, deadline: Deadline, signal: AbortSignal | undefined, op: string, timeoutMs?: number): QuiesceError | undefined {
    const i32 = this.i32;
    for (;;) {
      const ev = Atomics.load(i32, this.h + PR_EVENTS);
      const st = this.drainStep(r0, op);
      if (st === 'released') break;
      if (st === 'switching') {
        err ??= this.drainSwitchesSync(deadline, signal, op, timeoutMs);
        continue;
      }
      if (blockOn(i32, this.h + PR_EVENTS, ev, deadline, 100) === 'timed-out') {
        if (this.releasedSince(r0)) break;
        throw this.drainError('ERR_TIMEOUT', op, timeoutMs, signal);
      }
      if (signal?.aborted) throw this.drainError('ERR_ABORTED', op, timeoutMs, signal);
    }
    return err;
  }

  /** kill() + drain(): the synchronous-teardown shape of seed 000, awaitable. */
  async killAndDrain(o?: WaitOptions): Promise<void> {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.checkLive('killAndDrain()');
    this.beforeDrain('async', 'killAndDrain()');
    const { run } = this.markDead('killAndDrain()');
    if (run) this.startAsync(run);
    await this.drainWait(new Deadline(timeoutMs), signal, 'killAndDrain()', timeoutMs);
  }

  /** Blocking kill + drain (percpu_ref_exit_sync of seed 000). The switch is driven on this thread. */
  killAndDrainSync(o?: WaitOptions): void {
    const { signal, timeoutMs } = checkWaitOptions(o);
    this.checkLive('killAndDrainSync()');
    this.checkNotInReadSection('killAndDrainSync()'); // before the kill: an error changes nothing
    this.beforeDrain('sync', 'killAndDrainSync()');
    const { run } = this.markDead('killAndDrainSync()');
    try {
      this.drainWaitSync(new Deadline(timeoutMs), signal, 'killAndDrainSync()', timeoutMs);
    } finally {
      if (run && !run.finished && !this.runDriven.has(run)) this.startAsync(run); // never leave a switch undriven
    }
  }

  /**
   * Kill many refs sharing ONE grace period, then drain them all (the io_uring lesson: a teardown
   * must not pay a grace period per ref). Every ref must be live (not dying, not exited) and all
   * must be in one domain (one batch, one grace period): checked for all before any is killed. The batch itself is in kill-all.ts.
   */
  static async killAll(refs: readonly PercpuRef[], o?: WaitOptions): Promise<void> {
    if (!Array.isArray(refs)) throw new QuiesceError('ERR_INVALID_ARG', 'PercpuRef.killAll(refs): refs must be an array of PercpuRef');
    const { signal, timeoutMs } = checkWaitOptions(o);
    PercpuRef.checkBatch(refs);
    if (refs.length === 0) return;
    // killAll drains every ref: for lockdep it waits for each class's holders (once per class),
    // before anything is killed ('throw' then refuses the whole call).
    if (ld.on) {
      const seen = new Set<LockClass>();
      for (const r of refs) {
        if (seen.has(r.lockdepClass)) continue;
        seen.add(r.lockdepClass);
        r.beforeDrain('async', 'PercpuRef.killAll()');
      }
    }
    await killAllBatch(refs, new Deadline(timeoutMs), signal, timeoutMs);
  }

  /**
   * killAll's argument check. One O(1) pass, no allocation and no string unless it throws:
   * duplicates are found with a per-call stamp (a Set would make V8 create an identity hash for
   * each fresh ref object). A plain method, not inlined into the async killAll: V8 optimises its
   * loop within the first batch (kill-all.ts markAll).
   */
  private static checkBatch(refs: readonly PercpuRef[]): void {
    const stamp = ++killAllCalls;
    for (let i = 0; i < refs.length; i++) {
      const r: unknown = refs[i];
      if (!(r instanceof PercpuRef)) throw new QuiesceError('ERR_INVALID_ARG', 'PercpuRef.killAll(refs): refs must be an array of PercpuRef');
      // One batch is one domain: its grace period and its threads' counters are that domain's.
      if (r.core !== refs[0]!.core) throw new QuiesceError('ERR_INVALID_ARG', `PercpuRef.killAll(refs): ${r.what} is in another domain than ${refs[0]!.what}`);
      if (r.killAllStamp === stamp) throw new QuiesceError('ERR_INVALID_ARG', 'PercpuRef.killAll(refs): a ref appears twice');
      r.killAllStamp = stamp;
      const m = r.checkLive('PercpuRef.killAll()', true);
      if (m & PR_M_DEAD) throw new QuiesceError('ERR_ALREADY_DYING', `${r.what}: PercpuRef.killAll() on a ref that is already dying`);
    }
  }

  /**
   * @internal killAll step 1 for one ref in plain percpu mode: ONE CAS MODE 0 -> ATOMIC|SWITCHING|DEAD,
   * this thread owning the switch. The initial reference is NOT dropped here: it stands in for the
   * switch's own reference (claim() takes +1 and markDead() drops 1: the same net COUNT), and
   * batchFold() drops it at the end of the switch. False if the ref is not in plain percpu mode
   * (the caller kills it the ordinary way).
   */
  batchMarkDead(kb: KillBatch): boolean {
    if (Atomics.compareExchange(this.i32, this.mode, 0, PR_M_ATOMIC | PR_M_SWITCHING | PR_M_DEAD) !== 0) return false;
    Atomics.store(this.i32, this.h + PR_SWITCHER, this.core.slot + 1);
    this.batch = this.markedBy = kb.id;
    return true;
  }

  /**
   * @internal killAll step 3 for a ref whose mode changed under the batch (a resurrect, exit or
   * switchToPercpu raced with it): fold (slots 0..hi) and end the switch through advance()/finish(),
   * exactly as a single kill would. Returns the fold's imbalance error, if any.
   */
  batchFold(hi: number, lost: Set<PercpuRef>): QuiesceError | undefined {
    const run = newRun(-1, this.core.slot + 1, 0, hi);
    // Not this.run: that may be a switch of this thread still in flight (a later claim), which
    // must stay driven; this run is finished before this returns (snap -1: advance() never waits).
    this.step(run); // snap -1: never 'gp'; if it ends the switch, advance() drops the initial
    // reference (standing in for the switch's) and may release
    if (!run.ended) lost.add(this); // taken over from the mark: killAll takes its hand-back after the drain
    return run.error;
  }

  /**
   * @internal killAll step 3's imbalance case (total < 0 after the batch's fold, the initial
   * reference already dropped): as fold() does, discard the excess puts, warn, return the error.
   */
  batchImbalance(total: number): QuiesceError {
    Atomics.add(this.i32, this.h + PR_COUNT, -total);
    const holders = this.inspect().holders;
    const err = new QuiesceError(
      'ERR_REFCOUNT_UNDERFLOW',
      `${this.what}: count ${total} after switching to atomic (dead; must be >= 0): more puts than gets in percpu mode; ` +
        `the excess was discarded (count now 0). Per thread: ${this.holdersText(holders)}`,
      { ref: this.name, count: total, holders },
    );
    process.emitWarning(err.message, { code: 'ERR_REFCOUNT_UNDERFLOW', type: 'QuiesceWarning' });
    return err;
  }

  /** @internal kill() for a ref that batchMarkDead() refused (already atomic or switching). */
  batchKillSlow(op: string): void {
    const { run } = this.markDead(op);
    if (run) this.startAsync(run);
  }

  // ---- the creator's release watcher ----------------------------------------------------------------

  private watch(): void {
    const i32 = this.i32;
    if (!this.core.attached) return this.stopWatching();
    const ev = Atomics.load(i32, this.h + PR_EVENTS);
    const rel = Atomics.load(i32, this.h + PR_RELEASES);
    while (this.seenReleases !== rel) {
      this.seenReleases = (this.seenReleases + 1) | 0;
      const fn = this.onRelease;
      if (fn) {
        try {
          fn();
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    }
    const m = Atomics.load(i32, this.mode);
    if (m & PR_M_EXITED) return this.stopWatching();
    this.setHolding((m & PR_M_DEAD) !== 0 && !this.isReleased());
    const r = Atomics.waitAsync(i32, this.h + PR_EVENTS, ev);
    if (r.async) void r.value.then(() => this.watch());
    else queueMicrotask(() => this.watch());
  }

  private stopWatching(): void {
    watchers.delete(this);
    this.setHolding(false);
    this.waitEnd();
  }

  /**
   * @internal This thread's event loop is about to end ('beforeExit'): hold it open if a release
   * is still expected that this watcher has not run, i.e. a kill that sent it no wake-up (killAll's
   * mark; header: onRelease). The watcher's next watch() (after the release's bump()) lets go.
   */
  recheckHold(): void {
    const i32 = this.i32;
    if (this.holding || !this.core.attached) return;
    const m = Atomics.load(i32, this.mode);
    if (m & PR_M_EXITED) return;
    if ((m & PR_M_DEAD && !this.isReleased()) || Atomics.load(i32, this.h + PR_RELEASES) !== this.seenReleases) this.setHolding(true);
  }

  private setHolding(on: boolean): void {
    if (on === this.holding) return;
    this.holding = on;
    if (on) holdEventLoop();
    else releaseEventLoop();
  }
}
