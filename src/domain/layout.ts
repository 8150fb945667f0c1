/*
 * The shared-memory layout of a Domain: the ONLY place that knows where anything lives.
 *
 * One SharedArrayBuffer, viewed as an Int32Array `i32`. Every offset below is in 32-bit words
 * unless its name ends in _BYTES. Regions, in order:
 *
 *   +-----------------------------+  0
 *   | header (H_*)                |  HEADER_WORDS words: magic, sizes, allocator tops, RCU state
 *   +-----------------------------+  threadsBase
 *   | thread table                |  maxThreads slots x SLOT_WORDS (one 64-byte line per slot)
 *   +-----------------------------+  registryBase
 *   | named-object hash table     |  registryCap entries x REG_WORDS, open addressing
 *   +-----------------------------+  handoffBase
 *   | handoff table               |  HANDOFF_CAP words: read sides in transit (locks/handoff.ts)
 *   +-----------------------------+  stringsBase
 *   | string heap (UTF-8 names)   |  bump allocated
 *   +-----------------------------+  heapBase
 *   | object heap                 |  bump allocated, 64-byte aligned object headers
 *   +-----------------------------+  percpuBase
 *   | per-thread areas            |  maxThreads areas x percpuStride bytes (the percpu allocator)
 *   +-----------------------------+  bytes
 *
 * The per-thread areas are the kernel's percpu chunks: a percpu variable is ONE offset `off`
 * valid in every area; thread t's copy is at percpuBase + t*percpuStride + off. A thread's
 * counters for all objects sit together in its own area, so a PercpuRef costs 4 bytes per thread
 * (SPEC §1: at most 8) and two threads never write the same cache line on the fast path (areas
 * are 64-byte aligned and a multiple of 64 bytes long).
 *
 * The header is written once by Domain.create before the buffer is shared (postMessage /
 * workerData is a happens-before edge), except the words documented as atomic below, which are
 * only ever accessed with Atomics.
 */

export const MAGIC = 0x51534345; // 'QSCE'
export const LAYOUT_VERSION = 6; // 4: T_PARENT; 5: SRCU_IDX holds gp+1 of the last flip (rcu/srcu.ts); 6: PR_SW_ORIGIN

export const CACHE_LINE_BYTES = 64;
export const CACHE_LINE_WORDS = CACHE_LINE_BYTES / 4;

// ---- header words -------------------------------------------------------------------------
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_BYTES = 2;
export const H_MAX_THREADS = 3;
export const H_THREADS_BASE = 4; // word index
export const H_REGISTRY_BASE = 5; // word index
export const H_REGISTRY_CAP = 6; // entries (power of two)
export const H_STRINGS_BASE = 7; // byte offset
export const H_STRINGS_END = 8; // byte offset
export const H_HEAP_BASE = 9; // byte offset
export const H_HEAP_END = 10; // byte offset
export const H_PERCPU_BASE = 11; // byte offset
export const H_PERCPU_STRIDE = 12; // bytes per thread area
export const H_NAME_OFF = 13; // domain name in the string heap
export const H_NAME_LEN = 14;
// atomic words (allocator tops and locks)
export const H_STRINGS_TOP = 16; // atomic: next free byte in the string heap
export const H_HEAP_TOP = 17; // atomic: next free byte in the object heap
export const H_PERCPU_TOP = 18; // atomic: next free byte offset inside every per-thread area
export const H_REGISTRY_LOCK = 19; // atomic: futex lock guarding registry inserts: 0, or (holder slot + 1) << 1 | waiters (registry.ts)
export const H_REGISTRY_COUNT = 20; // atomic
export const H_THREAD_EPOCH = 21; // atomic: bumped (and notified) whenever a slot changes state
export const H_HANDOFF_BASE = 22; // word index of the handoff table (locks/handoff.ts)
export const H_HANDOFF_CAP = 23; // its entries
export const H_HANDOFF_HINT = 24; // atomic: where the next handoff allocation starts scanning
// The domain's identity: two random words written at creation. A SharedArrayBuffer that crosses a
// thread boundary (workerData, postMessage, environment data) arrives as a NEW object over the same
// memory, so a thread can only tell "the same domain" by what the memory says.
export const H_DOMAIN_ID = 25;
export const H_DOMAIN_ID2 = 26;
// RCU (rcu/rcu.ts owns these; each on its own line to keep the GP machinery off the header line)
export const H_RCU = 32; // first word of the RCU line
export const RCU_GP_SEQ = H_RCU + 0; // atomic: rcu_seq, low bit = GP in progress
export const RCU_GP_DRIVER = H_RCU + 1; // atomic: slot+1 of the thread driving the current GP
export const RCU_QS_EVENTS = H_RCU + 2; // atomic: bumped + notified on every QS report / offline
export const RCU_GP_COUNT = H_RCU + 3; // atomic: completed grace periods (statistics)
export const RCU_EXP_COUNT = H_RCU + 4; // atomic: of which expedited
export const HEADER_WORDS = 64;

// ---- thread slots ---------------------------------------------------------------------------
export const SLOT_WORDS = CACHE_LINE_WORDS;
export const T_STATE = 0; // atomic: ThreadState
export const T_GEN = 1; // atomic: bumped each time the slot is (re)claimed
export const T_QS_REQ = 2; // atomic: grace period this thread is asked to acknowledge (written by GP driver)
export const T_QS_ACK = 3; // atomic: last grace period this thread acknowledged (written by the thread)
export const T_CB_QUEUED = 4; // atomic: rcu.call() callbacks ever queued by this thread
export const T_CB_DONE = 5; // atomic: ... of which have run
export const T_THREAD_ID = 6; // worker_threads.threadId of the occupant
export const T_OFFLINE_DEPTH = 7; // plain, owner-only: nesting of quiesce's own blocking waits
export const T_OWN_DEATH = 8; // atomic: 1 while the thread, marked DEAD, still runs its own death handlers (threads.ts)
export const T_PARENT = 9; // atomic: threadId of the thread that started the occupant (its reserver while STARTING), -1 if unknown (threads.ts)

export const enum ThreadState {
  FREE = 0, // never used, or left by detach(); claimable
  STARTING = 1, // reserved by spawn() for a worker that has not attached yet (never waited for)
  ONLINE = 2, // running JS: a grace period needs a quiescent state from it
  OFFLINE = 3, // blocked inside a quiesce wait: an extended quiescent state
  DEAD = 4, // exited, crashed or terminated; never waited for, never reused (its counters stay)
}

/** Read sides that may be in transit between contexts at once (locks/handoff.ts). */
export const HANDOFF_CAP = 4096;

// ---- registry entries -------------------------------------------------------------------------
export const REG_WORDS = 8;
export const R_STATE = 0; // 0 empty, 1 ready
export const R_HASH = 1;
export const R_KIND = 2;
export const R_NAME_OFF = 3;
export const R_NAME_LEN = 4;
export const R_OPTS_HASH = 5; // hash of the canonical options (ERR_KIND_MISMATCH on disagreement)
export const R_OBJ = 6; // byte offset of the object's shared header in the heap
export const R_PCPU = 7; // byte offset of the object's percpu variables (or -1)

/** Object kinds stored in the registry. */
export const enum Kind {
  Mutex = 1,
  RwSem = 2,
  PercpuRwSem = 3,
  Completion = 4,
  PercpuRef = 5,
  Revocable = 6,
  Srcu = 7,
}

export const KIND_NAMES: Record<number, string> = {
  1: 'Mutex',
  2: 'RwSem',
  3: 'PercpuRwSem',
  4: 'Completion',
  5: 'PercpuRef',
  6: 'Revocable',
  7: 'Srcu',
};

export interface Geometry {
  bytes: number;
  maxThreads: number;
  threadsBase: number;
  registryBase: number;
  registryCap: number;
  handoffBase: number;
  handoffCap: number;
  stringsBase: number;
  stringsEnd: number;
  heapBase: number;
  heapEnd: number;
  percpuBase: number;
  percpuStride: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;

/** Carve `bytes` into the regions above. Percpu gets half of what is left after the fixed parts. */
export function computeGeometry(bytes: number, maxThreads: number): Geometry {
  const threadsBase = HEADER_WORDS;
  let registryCap = 256;
  while (registryCap * 1024 < bytes && registryCap < 1 << 20) registryCap *= 2; // ~1 entry per KiB
  const registryBase = threadsBase + maxThreads * SLOT_WORDS;
  const handoffBase = registryBase + registryCap * REG_WORDS;
  const handoffCap = HANDOFF_CAP;
  const stringsBase = (handoffBase + handoffCap) * 4;
  const stringsEnd = stringsBase + alignUp(Math.max(16384, bytes >> 5), CACHE_LINE_BYTES);
  const rest = bytes - stringsEnd;
  const percpuStride = Math.floor(rest / 2 / maxThreads / CACHE_LINE_BYTES) * CACHE_LINE_BYTES;
  // Rounded DOWN: the areas must end inside the buffer (bytes need not be a multiple of 64). The
  // heap keeps at least rest/2 - 63 bytes, since stringsEnd is itself 64-byte aligned.
  const percpuBase = alignDown(bytes - percpuStride * maxThreads, CACHE_LINE_BYTES);
  const heapBase = stringsEnd;
  const heapEnd = percpuBase;
  return {
    bytes,
    maxThreads,
    threadsBase,
    registryBase,
    registryCap,
    handoffBase,
    handoffCap,
    stringsBase,
    stringsEnd,
    heapBase,
    heapEnd,
    percpuBase,
    percpuStride,
  };
}

export function writeGeometry(i32: Int32Array, g: Geometry): void {
  i32[H_VERSION] = LAYOUT_VERSION;
  i32[H_DOMAIN_ID] = (Math.random() * 0x100000000) | 0;
  i32[H_DOMAIN_ID2] = (Math.random() * 0x100000000) | 0;
  i32[H_BYTES] = g.bytes;
  i32[H_MAX_THREADS] = g.maxThreads;
  i32[H_THREADS_BASE] = g.threadsBase;
  i32[H_REGISTRY_BASE] = g.registryBase;
  i32[H_REGISTRY_CAP] = g.registryCap;
  i32[H_HANDOFF_BASE] = g.handoffBase;
  i32[H_HANDOFF_CAP] = g.handoffCap;
  i32[H_STRINGS_BASE] = g.stringsBase;
  i32[H_STRINGS_END] = g.stringsEnd;
  i32[H_HEAP_BASE] = g.heapBase;
  i32[H_HEAP_END] = g.heapEnd;
  i32[H_PERCPU_BASE] = g.percpuBase;
  i32[H_PERCPU_STRIDE] = g.percpuStride;
  Atomics.store(i32, H_STRINGS_TOP, g.stringsBase);
  Atomics.store(i32, H_HEAP_TOP, g.heapBase);
  Atomics.store(i32, H_PERCPU_TOP, 0);
  Atomics.store(i32, H_MAGIC, MAGIC); // last: a reader that sees MAGIC sees the rest
}

/** The domain's identity (H_DOMAIN_ID): equal for every buffer object over the same domain's memory. */
export function domainKey(i32: Int32Array): string {
  return `${i32[H_DOMAIN_ID]}:${i32[H_DOMAIN_ID2]}:${i32.length}`;
}

export function readGeometry(i32: Int32Array): Geometry {
  return {
    bytes: i32[H_BYTES]!,
    maxThreads: i32[H_MAX_THREADS]!,
    threadsBase: i32[H_THREADS_BASE]!,
    registryBase: i32[H_REGISTRY_BASE]!,
    registryCap: i32[H_REGISTRY_CAP]!,
    handoffBase: i32[H_HANDOFF_BASE]!,
    handoffCap: i32[H_HANDOFF_CAP]!,
    stringsBase: i32[H_STRINGS_BASE]!,
    stringsEnd: i32[H_STRINGS_END]!,
    heapBase: i32[H_HEAP_BASE]!,
    heapEnd: i32[H_HEAP_END]!,
    percpuBase: i32[H_PERCPU_BASE]!,
    percpuStride: i32[H_PERCPU_STRIDE]!,
  };
}

/** Word index of field `f` of thread slot `t`. */
export const slotWord = (g: Geometry, t: number, f: number): number => g.threadsBase + t * SLOT_WORDS + f;

/** Word index of thread t's copy of the percpu variable at byte offset `off`. */
export const percpuWord = (g: Geometry, t: number, off: number): number =>
  (g.percpuBase + t * g.percpuStride + off) >> 2;

// =============================================================================================
// Per-object layouts. Each primitive's shared header (in the object heap, word offsets from the
// header's first word) and its percpu variables (word offsets inside each thread's area).
// =============================================================================================

// ---- Srcu (rcu/srcu.ts) ---------------------------------------------------------------------------
export const SRCU_IDX = 0; // atomic: gp+1 of the last SRCU GP that flipped; readers use (IDX >> 1) & 1 (rcu/srcu.ts)
export const SRCU_GP_SEQ = 1; // atomic: rcu_seq of SRCU grace periods
export const SRCU_DRIVER = 2; // atomic: slot+1 of the thread driving the current SRCU GP
export const SRCU_UNLOCK_EVENTS = 3; // atomic: bumped + notified by readUnlock while a GP waits
export const SRCU_WAITERS = 4; // atomic: > 0 while a GP driver waits for readers to drain
export const SRCU_HEADER_BYTES = 64;
// percpu words
export const SRCU_PC_LOCK = 0; // [0], [1]: read_lock counts per index (plain, owner-only writes)
export const SRCU_PC_UNLOCK = 2; // [2], [3]: read_unlock counts per index (Atomics.add)
export const SRCU_PC_CB_QUEUED = 4; // srcu.call() callbacks queued by this thread
export const SRCU_PC_CB_DONE = 5; // ... of which have run
export const SRCU_PERCPU_BYTES = 24;

// ---- Mutex (locks/mutex.ts) -------------------------------------------------------------------------
export const MUTEX_LOCK = 0; // atomic: 0 free, else (ownerSlot+1) << 2 | MUTEX_WAITERS (the kernel's owner word)
export const MUTEX_HANDOFF = 1; // atomic: 0 none, id > 0 a starving waiter asks for handoff, -id granted to it
export const MUTEX_HEADER_BYTES = 64; // one cache line; no percpu variables

// ---- RwSem (locks/rwsem.ts) ---------------------------------------------------------------------------
export const RWSEM_COUNT = 0; // atomic: readers | RWSEM_WRITER_LOCKED | waiting writers (encoding in rwsem.ts)
export const RWSEM_OWNER = 1; // atomic: slot+1 of the thread holding it for write, 0 otherwise
export const RWSEM_HEADER_BYTES = 64;
// percpu words
export const RWSEM_PC_READS = 0; // read sides held by this thread (owner-only writes; read by the death handler)
export const RWSEM_PC_WWAIT = 1; // writers of this thread counted in RWSEM_COUNT's waiting-writers field (same rules): async + 65536 x sync (rwsem.ts)
export const RWSEM_PERCPU_BYTES = 8;

// ---- Completion (locks/completion.ts) -------------------------------------------------------------
export const COMPLETION_DONE = 0; // atomic: the kernel's x->done; COMPLETION_ALL after completeAll()
export const COMPLETION_WAITERS = 1; // atomic: waiters currently asleep (complete() notifies only if > 0)
export const COMPLETION_HEADER_BYTES = 64;

// ---- rcu_sync (locks/rcu-sync.ts), embedded at a word offset inside its owner's header ----------
export const RSYNC_STATE = 0; // Atomics.store under RSYNC_LOCK; readers load it PLAIN (rcu_sync_is_idle)
export const RSYNC_COUNT = 1; // under RSYNC_LOCK: gp_count (writers between enter and exit)
export const RSYNC_CB_SEQ = 2; // under RSYNC_LOCK: GP snapshot the pending rcu_sync_func waits for
export const RSYNC_LOCK = 3; // atomic: the kernel's rss_lock; 0 free, else holder slot+1
export const RSYNC_CB = 4; // under RSYNC_LOCK: slot+1 of the thread with rcu_sync_func queued (rcu.call), 0: none
export const RSYNC_WORDS = 5;

// ---- PercpuRwSem (locks/percpu-rwsem.ts) --------------------------------------------------------------
export const PRW_RSYNC = 0; // RSYNC_WORDS words: the rcu_sync (readers' fast-path switch)
export const PRW_BLOCK = 8; // atomic: 0, or slot+1 of the writer holding the lock (sem->block), | DRAINING (percpu-rwsem.ts)
export const PRW_READER_EVENTS = 9; // atomic: bumped + notified by slow-path read unlocks (sem->writer)
export const PRW_HEADER_BYTES = 64;
// percpu words
export const PRW_PC_READ = 0; // read_count: owner-only writes (plain on the fast path, Atomics on the slow)
export const PRW_PC_RSYNC = 1; // rcu_sync enters of this thread not yet exited (Atomics, owner-only; read by the death handler)
export const PRW_PERCPU_BYTES = 8;

// ---- Revocable (locks/revocable.ts) -------------------------------------------------------------------
export const REV_WORD = 0; // atomic: REVOKED bit | outstanding accesses (encoding in revocable.ts)
export const REV_TRANSIT = 1; // atomic: accesses handed off and not adopted yet (reports only)
export const REV_HEADER_BYTES = 64;
// percpu words
export const REV_PC_HELD = 0; // accesses held by this thread now (plain, owner-only; reports only)
export const REV_PERCPU_BYTES = 4;

// ---- PercpuRef (ref/percpu-ref.ts) ------------------------------------------------------------------
export const PR_MODE = 0; // atomic stores/CAS; read PLAIN on the fast path: PR_M_* bits, 0 = percpu mode
export const PR_COUNT = 1; // atomic: the shared count; holds PR_BIAS while PR_BIASED
export const PR_BIASED = 2; // 1 while PR_COUNT holds the bias (percpu mode, or switched but not folded)
export const PR_FOLDED = 3; // sum of the per-thread counters at the last fold (mod 2^32)
export const PR_SWITCHER = 4; // atomic: the token of the current switch's owner (PR_SW_*: epoch, slot+1, BUSY; 0: none)
export const PR_EVENTS = 5; // atomic: bumped + notified on every mode change and every release
export const PR_RELEASES = 6; // atomic: releases so far (count reached zero in atomic mode)
export const PR_CREATOR = 7; // slot of the creating thread (onRelease runs there)
export const PR_FLAGS = 8; // static flags (PR_F_*), written once at creation
export const PR_WAITERS = 9; // atomic: threads/tasks that may be sleeping on PR_EVENTS (a release notifies only if > 0)
export const PR_SWITCH_SEQ = 10; // atomic: bumped per switch claim and per takeover; its value makes the owner's token unique
export const PR_SWITCH_NO = 11; // atomic: bumped per switch claimed by claim() (a stale owner waits for it to move on)
export const PR_CREATOR_GEN = 12; // the creator slot's generation: a later occupant of that slot is not the creator
// atomic: a taken-over switch's hand-back (percpu-ref.ts header, "hand-back"): the original owner's
// token while the switch is in flight, then token | PR_SW_ORIGIN_ERR if its fold found an
// imbalance, else 0
export const PR_SW_ORIGIN = 13;
export const PR_HEADER_BYTES = 64;
export const PR_M_ATOMIC = 1;
export const PR_M_DEAD = 2;
export const PR_M_SWITCHING = 4; // a switch is in flight; its owner is PR_SWITCHER
export const PR_M_FORCE = 8; // sticky atomic (initAtomic / switchToAtomic), the kernel's force_atomic
export const PR_M_EXITED = 16;
export const PR_F_ALLOW_REINIT = 1;
// PR_SWITCHER holds the owner's token: (epoch << PR_SW_EPOCH_SHIFT) | (slot + 1), plus PR_SW_BUSY
// while that owner folds or ends the switch (synchronous steps). Epoch 0 is a killAll mark's.
export const PR_SW_SLOT_MASK = 0x7ff; // slot + 1 (maxThreads <= 1024)
export const PR_SW_EPOCH_SHIFT = 11;
export const PR_SW_EPOCHS = 0x7ffff; // epochs 1..PR_SW_EPOCHS (19 bits)
export const PR_SW_BUSY = 1 << 30;
export const PR_SW_ORIGIN_ERR = PR_SW_BUSY; // in PR_SW_ORIGIN: no token has this bit (BUSY never reaches that word)
export const PR_BIAS = 1 << 30;
// percpu words
export const PR_PC_COUNT = 0; // percpu-mode counter: plain ++/-- by its owner only, never reset
export const PR_PC_ATOMIC = 1; // atomic-mode attribution: this thread's net gets in atomic mode (owner only)
export const PR_PERCPU_BYTES = 8;
