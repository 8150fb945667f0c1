/*
 * One graph per process: every thread has its own module instance, so threads exchange what they
 * learn over a BroadcastChannel (node:worker_threads), unref'd so it never keeps a thread alive.
 *
 * Messages (all structured-cloneable, classes by NAME):
 *   edge   {from, to, dep, stack, thread}   a dependency a thread recorded (or widened)
 *   report {kind, classes, text, key}       a report a thread raised (receivers record it, dedup by key)
 *   hello  {}                               a thread just enabled lockdep: please send what you know
 *   sync   {edges, reports}                 the answer to hello
 *   reset  {}                               lockdep.reset() in some thread: everyone forgets what it
 *                                           learned (graph, chains, usage, reports), not what it holds
 * A receiving thread merges an edge and, if it is new, searches for a cycle it closes (engine.ts), so
 * an A->B in one worker and B->A in another is reported no later than the next event-loop turn of
 * the thread that gets the second edge. The channel never delivers a thread its own messages.
 *
 * Print claims ('warn' prints a problem once per PROCESS, however many threads find it: two threads
 * that each merge the other's edge both find the cycle before either's report arrives). A table of
 * report-key hashes in one SharedArrayBuffer shared by the threads: the first thread that loads this
 * module creates it and puts it in worker_threads environment data, which every Worker started
 * later inherits (and passes on to its own). A thread prints a report only if its compareExchange
 * put the key's hash into the table, so the first finder prints at once (no waiting on anyone,
 * alive or not) and the others only record it. Invariants: a slot goes 0 -> hash once, until
 * lockdep.reset() empties the table (a problem is new again after reset); if the table is full
 * every claim succeeds: a duplicate line is better than a lost report. A Worker started before its
 * creator loaded this module makes a table of its own (then the two groups may each print once).
 */
import { BroadcastChannel, getEnvironmentData, setEnvironmentData } from 'node:worker_threads';

export interface EdgeMsg {
  t: 'edge';
  from: string;
  to: string;
  dep: number;
  /** Edge.toRead. */
  toRead: number;
  stack: string;
  thread: string;
}
export interface ReportMsg {
  t: 'report';
  kind: string;
  classes: string[];
  text: string;
  key: string;
}
export type Msg = EdgeMsg | ReportMsg | { t: 'hello' } | { t: 'sync'; edges: EdgeMsg[]; reports: ReportMsg[] } | { t: 'reset' };

const CHANNEL = 'quiesce:lockdep:v1';
let chan: BroadcastChannel | null = null;

export function openChannel(onMsg: (m: Msg) => void): void {
  if (chan) return;
  chan = new BroadcastChannel(CHANNEL);
  chan.onmessage = (ev: unknown) => {
    const data = (ev as { data?: unknown }).data as Msg | undefined;
    if (data && typeof data === 'object' && typeof data.t === 'string') onMsg(data);
  };
  chan.unref();
  post({ t: 'hello' });
}

export function closeChannel(): void {
  chan?.close();
  chan = null;
}

export function post(m: Msg): void {
  if (!chan) return;
  try {
    chan.postMessage(m);
  } catch {
    /* closing */
  }
}

const CLAIMS_KEY = 'quiesce:lockdep:claims:v1';
const CLAIM_SLOTS = 1024;

function claimTable(): BigInt64Array {
  let sab = getEnvironmentData(CLAIMS_KEY) as SharedArrayBuffer | undefined;
  if (!(sab instanceof SharedArrayBuffer)) {
    sab = new SharedArrayBuffer(8 * CLAIM_SLOTS);
    setEnvironmentData(CLAIMS_KEY, sab);
  }
  return new BigInt64Array(sab);
}

const claims = claimTable();

/** A 61-bit non-zero hash of a report key (two independent 30-bit string hashes). */
function keyHash(key: string): bigint {
  let a = 0x811c9dc5;
  let b = 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x27d4eb2f) ^ (b >>> 15);
  }
  return (1n << 60n) | (BigInt(a & 0x3fffffff) << 30n) | BigInt(b & 0x3fffffff);
}

/** True for exactly one caller per report key in the process (until clearClaims): that one prints. */
export function claimPrint(key: string): boolean {
  const h = keyHash(key);
  const start = Number(h & BigInt(CLAIM_SLOTS - 1));
  for (let n = 0; n < CLAIM_SLOTS; n++) {
    const i = (start + n) & (CLAIM_SLOTS - 1);
    const old = Atomics.compareExchange(claims, i, 0n, h);
    if (old === 0n) return true;
    if (old === h) return false;
  }
  return true; // full
}

/** lockdep.reset(): every problem may be printed again. */
export function clearClaims(): void {
  for (let i = 0; i < CLAIM_SLOTS; i++) Atomics.store(claims, i, 0n);
}
