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
 */
import { BroadcastChannel } from 'node:worker_threads';

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
