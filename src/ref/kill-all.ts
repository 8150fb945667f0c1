/*
 * PercpuRef.killAll(refs): kill many refs with ONE grace period and O(refs x claimed slots) plain
 * work (SPEC §4; the io_uring lesson: a teardown must not pay a grace period, a promise or a
 * wake-up per ref). percpu-ref.ts validates the arguments; this file runs the batch:
 *
 *   1. mark: for each ref in plain percpu mode, ONE CAS MODE 0 -> ATOMIC|SWITCHING|DEAD
 *      (PercpuRef.batchMarkDead). Its initial reference stands in for the switch's own reference,
 *      so COUNT is not touched: it still holds BIAS and cannot reach zero. A ref that is already
 *      atomic or switching (initAtomic, switchToAtomic in flight) is killed the ordinary way. A
 *      ref another thread killed or exit()ed since the validation fails alone (ERR_ALREADY_DYING /
 *      ERR_USE_AFTER_EXIT in killAll's rejection): the batch still folds and drains the others.
 *      No wake-up (no bump()): nobody can be waiting for a change of a ref that was live until
 *      this CAS (a drain needs it dying; a switch waiter waits for a switch's end), except the
 *      creator's onRelease watcher, which from now on must hold its thread's event loop open: it
 *      re-checks before that loop would end (percpu-ref.ts header, "onRelease"), at no cost here.
 *   2. ONE grace period, snapshotted after the last CAS (rcu/gp.ts).
 *   3. fold each ref (foldAll, one loop): claim it (CAS SWITCHER mark -> mark|BUSY; it fails if
 *      another thread took the switch over while this one was blocked: then that thread ends it,
 *      percpu-ref.ts header "switch ownership", and hands the imbalance its fold found back to our
 *      mark: step 4 takes it), sum pc[t] with PLAIN loads over the slots 0..hi only,
 *      hi = the highest slot whose T_GEN is non-zero (loaded once, after the grace period), then
 *      the single Atomics RMW into COUNT, clear SWITCHING, drop the initial reference. If the
 *      fold shows no other holder (COUNT + delta - BIAS == 1, checked by a CAS on the COUNT value
 *      just loaded), the fold and the drop are ONE CAS COUNT -> 0; then the MODE CAS, RELEASES++,
 *      and bump() (EVENTS++ and notify only if WAITERS != 0: percpu-ref.ts header, "wake-ups").
 *      Otherwise Atomics.add(COUNT, delta - BIAS), the MODE CAS, a checked decrement of COUNT (a
 *      CAS: an excess put may have taken the initial reference since the fold), bump().
 *      Common case per ref: 2 RMWs in step 1 (MODE CAS, SWITCHER store), 4 in step 3 (SWITCHER
 *      CAS, COUNT CAS, MODE CAS, RELEASES add) and no notify.
 *   4. drain: one pass over the refs; only those not yet released are waited for, one at a time,
 *      under the one shared deadline (normally none: nobody else holds a reference). A ref step 3
 *      found taken over (lost) then has its hand-back taken (percpu-ref.ts takeHandBack(), keyed
 *      by our mark's token): its switch has ended by then, released or drained. Not if a later
 *      killAll of this thread has marked the ref since (ref.markedBy): its mark is the same token.
 *
 * Each marked ref names the batch (ref.batch = the id of a KillBatch holding the grace period's
 * snapshot, found in `unfolded` below) until step 3 reaches it. A *Sync drain on this thread before
 * that would wait for a fold only this thread's event loop can run, so it adopts the ref instead
 * (percpu-ref.ts adoptBatch(): ref.batch = 0, SWITCHER CASed from the mark to a fresh token, the switch completed there:
 * every mark of this thread is the same epoch-0 token, which a stale adopted run must not be able
 * to match again); step 3 skips a ref whose batch is no longer this one and only waits for its release.
 * (A ref another thread took over from the mark is not adopted: it stays in the batch, step 3
 * finds it lost and step 4 takes the imbalance its new owner handed back, if any.)
 *
 * Memory-model argument (the same as percpu-ref.ts's header, once for the whole batch):
 *  - Every MODE CAS of step 1 precedes (program order) the grace-period snapshot of step 2. The GP
 *    driver's Atomics.store of T_QS_REQ[t] / thread t's Atomics.store of T_QS_ACK[t] at its next
 *    event-loop turn / the driver's Atomics.load of it and its GP_SEQ store, which this thread
 *    reads with Atomics.load when the wait returns, make every fast-path update a thread made in a
 *    turn that began before the grace period happen-before step 3. Every turn that begins after its
 *    acknowledgement happens-after all the CASes, so it reads MODE != 0 and never writes pc[t]
 *    again. So the grace period IS the happens-before edge for all refs at once, and step 3's
 *    plain loads of pc[t] see final values: no per-slot Atomics are needed.
 *  - A slot whose T_GEN is 0 when loaded after the grace period never had an occupant: only a
 *    slot's occupant writes its per-thread area and the buffer starts zeroed, so its pc words are 0
 *    and skipping it changes no sum. A thread that claims such a slot later begins its turns after
 *    the grace period and sees the refs dead, like any thread above.
 *  - FOLDED, BIASED and SWITCHER are written in step 3 with PLAIN stores: only the switch owner
 *    holding BUSY (this thread, after its SWITCHER CAS) writes them, and they are stored BEFORE the MODE CAS
 *    that clears SWITCHING. That CAS is the release: a thread whose Atomics.load/CAS of MODE reads
 *    it (isReleased(), drains, a later switch's claim, which writes SWITCHER/FOLDED itself) sees
 *    them. Before it, readers ignore them (isReleased needs SWITCHING clear; takeOver reading
 *    SWITCHER 0 or BUSY just waits; inspect() is an estimate). If the MODE CAS fails (resurrect, exit or
 *    FORCE raced), the general path (batchFold) reads them on this same thread; a combined COUNT
 *    drop is undone first (COUNT += 1) because batchFold's end of the switch (advance()) drops the reference itself, and SWITCHER gets our mark back (batchFold claims it again).
 *  - Two loads in step 3 are PLAIN: MODE before the claim and COUNT before the combined drop. Each
 *    only picks a path: either the general one (batchFold, right for any mode; a stale "not ASD"
 *    merely sends a ref there that did not need it), or one that an Atomics RMW on the same word
 *    then confirms (the MODE CAS that ends the switch, the COUNT CAS): a stale value makes that
 *    RMW fail, and the general path runs, exactly as when the word changes just after an
 *    Atomics.load. (Our own mark's CAS precedes the MODE load in program order, so it never reads
 *    older than ASD.) (An Atomics.load is a
 *    builtin call in V8 11, an order of magnitude dearer than a plain load; the RMWs stay.)
 *  - If the grace-period wait times out or is aborted, the switches are still completed in the
 *    background after a full grace period (never folded early), and killAll rejects.
 */
import { QuiesceError } from '../errors.js';
import {
  PR_BIAS,
  PR_BIASED,
  PR_COUNT,
  PR_FOLDED,
  PR_MODE,
  PR_M_ATOMIC,
  PR_M_DEAD,
  PR_M_SWITCHING,
  PR_PC_COUNT,
  PR_RELEASES,
  PR_SWITCHER,
  PR_SW_BUSY,
  T_GEN,
  percpuWord,
  slotWord,
} from '../domain/layout.js';
import { Deadline, abortedError, holdEventLoop, releaseEventLoop, timeoutError } from '../domain/wait.js';
import type { PercpuRef } from './percpu-ref.js';

const OP = 'PercpuRef.killAll()';

/** Highest slot ever claimed (T_GEN > 0), or -1. One Atomics.load per slot, once per batch. */
function highestClaimedSlot(ref: PercpuRef): number {
  const { i32, g } = ref.core;
  for (let t = g.maxThreads - 1; t >= 0; t--) if (Atomics.load(i32, slotWord(g, t, T_GEN)) !== 0) return t;
  return -1;
}

const ASD = PR_M_ATOMIC | PR_M_SWITCHING | PR_M_DEAD;

/** One killAll call: its marked refs name it (PercpuRef.batch = id) until folded (see the header). */
export interface KillBatch {
  /** This thread's number for the batch, never 0 (what PercpuRef.batch / markedBy hold). */
  readonly id: number;
  /** The grace period the batch waits for (set right after the last mark, in the same turn). */
  snap: number;
}

/*
 * This thread's batches not folded yet, by id. A ref names its batch by a small integer, not by a
 * reference to the KillBatch: storing a young object into 10,000 old ref objects costs V8 a
 * remembered-set insertion each (measured: ~0.25 ms of a 10,000-ref mark), an integer nothing.
 * Ids repeat after 2^30 batches of one thread; a ref's markedBy that old could then match a new
 * batch (README §11 lists the hand-back's corners).
 */
const unfolded = new Map<number, KillBatch>();
let lastBatchId = 0;

function newBatch(): KillBatch {
  lastBatchId = lastBatchId === 0x3fffffff ? 1 : lastBatchId + 1;
  const kb: KillBatch = { id: lastBatchId, snap: -1 };
  unfolded.set(kb.id, kb);
  return kb;
}

/** @internal the batch of this thread with id `id` if it has not folded yet (percpu-ref.ts adoptBatch). */
export function unfoldedBatch(id: number): KillBatch | undefined {
  return unfolded.get(id);
}

/**
 * Step 3 for every batched ref, in one loop (straight-line per ref: this runs once per teardown,
 * mostly before the JIT has warmed up, so calls and Atomics are what it costs). Pushes the refs not
 * released by it onto `pending`; returns the first imbalance error (each was also warned about).
 */
function foldAll(batch: PercpuRef[], kb: KillBatch, pending: PercpuRef[], lost: Set<PercpuRef>): QuiesceError | undefined {
  if (batch.length === 0) {
    unfolded.delete(kb.id);
    return undefined;
  }
  const { i32, g } = batch[0]!.core;
  const hi = highestClaimedSlot(batch[0]!);
  const me = batch[0]!.core.slot + 1; // SWITCHER of every ref this batch marked
  const bases: number[] = [];
  for (let t = 0; t <= hi; t++) bases.push(percpuWord(g, t, 0) + PR_PC_COUNT);
  let first: QuiesceError | undefined;
  for (const r of batch) {
    if (r.batch !== kb.id) {
      pending.push(r); // adopted by a *Sync drain on this thread, which completes its switch
      continue;
    }
    r.batch = 0;
    const h = r.h;
    if (i32[h + PR_MODE] !== ASD) { // a filter (plain load, see the header); the MODE CAS below decides
      first ??= r.batchFold(hi, lost); // the mode changed under the batch: the general switch machinery
      pending.push(r);
      continue;
    }
    // Claim the fold and the end: ONE CAS from our mark's token. It fails if another thread took
    // the switch over while this one was blocked (percpu-ref.ts header): that thread ends it.
    if (Atomics.compareExchange(i32, h + PR_SWITCHER, me, me | PR_SW_BUSY) !== me) {
      pending.push(r);
      lost.add(r); // its imbalance, if any, is handed back to our mark: taken after its drain
      continue;
    }
    // fold: plain loads of pc[t] (the grace period is the happens-before edge, see the header)
    const off = r.pcpu >> 2;
    let sum = 0;
    for (let t = 0; t <= hi; t++) sum = (sum + i32[bases[t]! + off]!) | 0;
    const delta = (sum - i32[h + PR_FOLDED]!) | 0;
    // FOLDED, BIASED, SWITCHER: plain stores, published by the MODE CAS below (see the header)
    i32[h + PR_FOLDED] = sum;
    const c = i32[h + PR_COUNT]!; // a guess (plain load), checked by the CAS
    if (((c + delta - PR_BIAS) | 0) === 1 && Atomics.compareExchange(i32, h + PR_COUNT, c, 0) === c) {
      // No other holder: fold and drop the initial reference in ONE RMW (count 0, SWITCHING still set)
      i32[h + PR_BIASED] = 0;
      i32[h + PR_SWITCHER] = 0;
      if (Atomics.compareExchange(i32, h + PR_MODE, ASD, PR_M_ATOMIC | PR_M_DEAD) !== ASD) {
        Atomics.add(i32, h + PR_COUNT, 1); // give back the reference batchFold's advance() drops
        Atomics.store(i32, h + PR_SWITCHER, me); // still ours: batchFold's advance() checks it
        first ??= r.batchFold(hi, lost);
        pending.push(r);
        continue;
      }
      Atomics.add(i32, h + PR_RELEASES, 1); // released (percpu-ref.ts released())
      r.bump();
      continue;
    }
    const old = Atomics.add(i32, h + PR_COUNT, (delta - PR_BIAS) | 0);
    i32[h + PR_BIASED] = 0;
    const total = ((old + delta - PR_BIAS) | 0) - 1; // minus the initial reference (the switch's)
    if (total < 0) first ??= r.batchImbalance(total); // COUNT is raised back to our 1
    i32[h + PR_SWITCHER] = 0;
    // end the switch; a mode change racing with it (resurrect, exit, FORCE) goes the general way
    if (Atomics.compareExchange(i32, h + PR_MODE, ASD, PR_M_ATOMIC | PR_M_DEAD) !== ASD) {
      Atomics.store(i32, h + PR_SWITCHER, me); // still ours: batchFold's advance() checks it
      first ??= r.batchFold(hi, lost); // BIASED is 0: no second fold; it drops the initial reference
      pending.push(r);
      continue;
    }
    // drop the initial reference, checked: an excess put on another thread may have taken it since
    // the fold (a checked put only keeps COUNT >= 0): then it released the ref, and we drop nothing
    let c1 = Atomics.load(i32, h + PR_COUNT);
    while (c1 > 0) {
      const x = Atomics.compareExchange(i32, h + PR_COUNT, c1, c1 - 1);
      if (x === c1) break;
      c1 = x;
    }
    if (c1 === 1) {
      Atomics.add(i32, h + PR_RELEASES, 1); // released (percpu-ref.ts released())
    } else if (c1 <= 0) {
      first ??= r.switchRefTaken();
    } else {
      pending.push(r);
    }
    r.bump(); // the switch ended (and maybe a release): wake drainers / the onRelease watcher, if any
  }
  unfolded.delete(kb.id); // every ref of it is folded or adopted: none names it any more
  return first;
}

type Failed = { ref: PercpuRef; reason: unknown };

/**
 * Step 1 for every ref, in one loop. A plain function, not inlined into the async body below: V8
 * optimises (OSR) a hot loop in a plain function within the first batch, while the same loop in an
 * async function ran unoptimised for several batches (measured: the mark of 10,000 refs took about
 * half as long here).
 */
function markAll(refs: readonly PercpuRef[], kb: KillBatch, batch: PercpuRef[], failed: Failed[]): void {
  for (let i = 0; i < refs.length; i++) {
    const r = refs[i]!;
    if (r.batchMarkDead(kb)) batch.push(r);
    else {
      try {
        r.batchKillSlow(OP);
      } catch (e) {
        failed.push({ ref: r, reason: e });
      }
    }
  }
}

/** @internal the body of PercpuRef.killAll (arguments already validated, every ref live). */
export async function killAllBatch(refs: readonly PercpuRef[], deadline: Deadline, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<void> {
  const rcu = refs[0]!.rcu;
  // 1. mark. Another thread may kill or exit a ref between percpu-ref.ts's validation and here:
  // that ref fails (reported at the end), and the batch goes on: the refs marked so far are
  // switches only this batch folds, so throwing here would leave them in flight for ever.
  const kb = newBatch();
  const batch: PercpuRef[] = [];
  const failed: Failed[] = [];
  markAll(refs, kb, batch, failed);
  // 2. one grace period for all
  const snap = rcu.gp.snap();
  kb.snap = snap;
  let ok: boolean;
  holdEventLoop();
  try {
    ok = await rcu.gp.waitAsync(snap, deadline, signal, () => abortedError(OP, 'grace period', signal));
  } catch (e) {
    finishLater(batch, kb);
    throw e;
  } finally {
    releaseEventLoop();
  }
  if (!ok) {
    finishLater(batch, kb);
    throw timeoutError(OP, 'grace period', timeoutMs);
  }
  // 3. fold (the grace period above is the happens-before edge for every plain load of pc[t])
  const skip = refs.length === batch.length ? null : new Set([...batch, ...failed.map((f) => f.ref)]);
  const pending: PercpuRef[] = refs.length === batch.length ? [] : refs.filter((r) => !skip!.has(r));
  const lost = new Set<PercpuRef>();
  let foldErr = foldAll(batch, kb, pending, lost);
  // 4. drain: wait only for refs someone else still holds
  for (const r of pending) {
    if (!r.isReleased()) {
      try {
        await r.drainWait(deadline, signal, OP, timeoutMs);
      } catch (e) {
        failed.push({ ref: r, reason: e });
        continue;
      }
    }
    // Taken over from our mark: the imbalance its fold found is ours to report. Released or
    // drained, its switch has ended (isReleased() needs SWITCHING clear; drainWait waits for it).
    // Unless a later killAll of this thread has marked the ref since (revived meanwhile): its
    // mark is the same token, so the word may hold THAT batch's verdict, not ours (r.markedBy).
    if (lost.size !== 0 && r.markedBy === kb.id && lost.has(r)) foldErr ??= r.takeHandBack(refs[0]!.core.slot + 1);
  }
  if (failed.length === 0) {
    if (foldErr) throw foldErr;
    return;
  }
  const first = failed[0]!.reason;
  if (failed.length === 1 || !(first instanceof QuiesceError)) throw first;
  throw new QuiesceError(
    first.code,
    `${OP}: ${failed.length} of ${refs.length} refs failed; first: ${first.message.replace(/ \[[A-Z_]+\]$/, '')}`,
    { failed: failed.map((f) => ({ ref: f.ref.name, error: f.reason instanceof QuiesceError ? f.reason.details : String(f.reason) })) },
  );
}

/** The batch's wait gave up: complete the switches after a full grace period anyway. */
function finishLater(batch: PercpuRef[], kb: KillBatch): void {
  if (batch.length === 0) {
    unfolded.delete(kb.id);
    return;
  }
  const rcu = batch[0]!.rcu;
  holdEventLoop();
  void rcu.gp
    .waitAsync(kb.snap, new Deadline(undefined), undefined, () => abortedError(OP, 'grace period', undefined))
    .then(() => foldAll(batch, kb, [], new Set()))
    .finally(releaseEventLoop);
}
