/*
 * The report file of `quiesce check`: when QUIESCE_LOCKDEP_OUT names a file, every thread appends
 * each report it knows of to it, one JSON object per line, with a synchronous append so the line
 * is on disk before the thread can die (a crash, process.exit(), a terminate()). Several threads
 * may write the same report (they share reports over the BroadcastChannel); the reader drops
 * duplicates by kind + classes. Lines are small, and O_APPEND writes of one line at a time do not
 * interleave on local filesystems.
 */
import { appendFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import type { LockdepReport } from './hooks.js';

export function installFileSink(file: string, onReport: (cb: (r: LockdepReport) => void) => () => void): void {
  const thread = isMainThread ? 'main' : `worker ${threadId}`;
  onReport((r) => {
    try {
      appendFileSync(file, `${JSON.stringify({ kind: r.kind, classes: r.classes, text: r.text, thread })}\n`);
    } catch {
      /* the checker went away; nothing useful to do */
    }
  });
}
