/*
 * Report text, kernel-style (Documentation/locking/lockdep-design.rst, print_circular_bug and
 * friends in kernel/locking/lockdep.c), plus the helpers every report needs: the thread's name
 * ("main", "worker N"), the task (the async context id), and user stacks.
 *
 * Stacks: captured only off the fast path (a new edge, a new usage bit, a report). Frames inside
 * quiesce's own src/ (or dist/src/) and Node internals are dropped, so the first frame shown is the
 * user's. A report's dedup key is kind + classes (a cycle is rotated to start at its smallest name,
 * so the same cycle found from any edge, in any thread, has one key).
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { ReportKind } from './hooks.js';
import type { Entry } from './context.js';
import type { Edge } from './graph.js';
import type { Cls } from './classes.js';

export const threadName: string = isMainThread ? 'main' : `worker ${threadId}`;

const pkgRootUrl = new URL('../../', import.meta.url).href; // <root>/src/lockdep/ -> <root>/
const pkgRootPath = fileURLToPath(pkgRootUrl);
const ownMarkers = [pkgRootUrl + 'src/', pkgRootPath + 'src/'];

function isOwnFrame(line: string): boolean {
  if (line.includes('node:internal') || line.includes('(<anonymous>)') || line.includes('node:async_hooks')) return true;
  for (const m of ownMarkers) if (line.includes(m)) return true;
  return false;
}

/** The caller's stack without quiesce's frames: "    at fn (file:line:col)" lines. */
export function userStack(max = 8): string {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const raw = new Error().stack ?? '';
  Error.stackTraceLimit = saved;
  const lines = raw.split('\n').slice(1).filter((l) => !isOwnFrame(l));
  return lines.slice(0, max).map((l) => '       ' + l.trim()).join('\n');
}

export function firstFrame(stack: string): string {
  const first = stack.split('\n')[0];
  return first ? first.trim().replace(/^at /, '') : '<unknown>';
}

export function taskName(execId: number): string {
  return `${threadName} (task ${execId})`;
}

export function modeName(read: number): string {
  return read === 0 ? 'write' : read === 1 ? 'read' : 'recursive-read';
}

export function lockLine(name: string, read: number): string {
  return ` (${name}){${modeName(read)}}`;
}

function banner(title: string): string {
  const bar = '='.repeat(title.length + 2);
  const dash = '-'.repeat(title.length + 2);
  return `${bar}\n${title}\n${dash}`;
}

export function heldSection(held: Entry[]): string {
  if (held.length === 0) return 'no locks held by this task.';
  const lines = [`${held.length} lock${held.length === 1 ? '' : 's'} held by this task:`];
  held.forEach((e, i) => lines.push(` #${i}:${lockLine(e.cls.name, e.read)}${e.trylock ? ' (trylock)' : ''}`));
  return lines.join('\n');
}

export function dedupKey(kind: ReportKind, classes: string[], extra = ''): string {
  let cls = classes;
  if (kind === 'circular' && classes.length > 1) {
    let min = 0;
    for (let i = 1; i < classes.length; i++) if (classes[i]! < classes[min]!) min = i;
    cls = [...classes.slice(min), ...classes.slice(0, min)];
  }
  return `${kind}:${cls.join('\u0000')}${extra ? '\u0000' + extra : ''}`;
}

export interface CircularInfo {
  who: string;
  next: { cls: Cls; read: number; sync: boolean };
  prev: { cls: Cls; read: number };
  /** Existing strong path next -> ... -> prev. */
  path: Edge[];
  current: string;
  held: Entry[];
}

/** classes of a cycle in acquisition order: next, ..., prev (the new edge prev -> next closes it). */
export function cycleClasses(path: Edge[], next: Cls): string[] {
  return [next.name, ...path.map((e) => e.to.name)];
}

export function circularText(c: CircularInfo): string {
  const names = cycleClasses(c.path, c.next.cls);
  const out: string[] = [];
  out.push(banner('WARNING: possible circular locking dependency detected'));
  out.push(`${c.who} is trying to acquire lock:`);
  out.push(`${lockLine(c.next.cls.name, c.next.read)}, at: ${firstFrame(c.current)}`);
  out.push('');
  out.push('but task is already holding lock:');
  out.push(lockLine(c.prev.cls.name, c.prev.read));
  out.push('');
  out.push('which lock already depends on the new lock.');
  out.push('');
  out.push('');
  out.push('the existing dependency chain (in reverse order) is:');
  for (let i = c.path.length - 1; i >= 0; i--) {
    const e = c.path[i]!;
    out.push('');
    out.push(`-> #${i + 1} (${e.to.name}):`);
    out.push(e.stack || `       <first seen in ${e.thread}; stacks off>`);
  }
  out.push('');
  out.push(`-> #0 (${c.next.cls.name}):`);
  out.push(c.current || '       <stacks off>');
  out.push('');
  out.push('other info that might help us debug this:');
  out.push('');
  if (names.length >= 3) {
    out.push('Chain exists of:');
    out.push('  ' + names.join(' --> '));
    out.push('');
  }
  const parent = c.path.length > 0 ? c.path[c.path.length - 1]!.from.name : c.next.cls.name;
  const pad = ' '.repeat(31);
  out.push(' Possible unsafe locking scenario:');
  out.push('');
  out.push('       CONTEXT0                CONTEXT1');
  out.push('       ----                    ----');
  out.push(`  ${c.prev.read ? 'rlock' : 'lock'}(${c.prev.cls.name});`);
  out.push(`${pad}lock(${parent});`);
  out.push(`${pad}lock(${c.prev.cls.name});`);
  out.push(`  ${c.next.sync ? 'sync' : c.next.read ? 'rlock' : 'lock'}(${c.next.cls.name});`);
  out.push('');
  out.push(' *** DEADLOCK ***');
  out.push('');
  out.push(heldSection(c.held));
  return out.join('\n');
}

/**
 * A cycle found while merging an edge recorded by another thread. fromExclusive / toRecursive: the
 * dependency type of the closing edge that made the cycle (E? / ?R); the scenario prints the held
 * lock and the new one as the kernel does (rlock for a reader).
 */
export function remoteCircularText(who: string, closing: Edge, path: Edge[], fromExclusive: boolean, toRecursive: boolean): string {
  const names = [closing.to.name, ...path.map((e) => e.to.name)];
  const out: string[] = [];
  out.push(banner('WARNING: possible circular locking dependency detected'));
  out.push(`${closing.thread} recorded ${closing.from.name} -> ${closing.to.name}, which closes a cycle with dependencies`);
  out.push(`already recorded by this process (found by ${who}).`);
  out.push('');
  out.push('the existing dependency chain (in reverse order) is:');
  for (let i = path.length - 1; i >= 0; i--) {
    const e = path[i]!;
    out.push('');
    out.push(`-> #${i + 1} (${e.to.name}): [${e.thread}]`);
    out.push(e.stack || '       <stacks off>');
  }
  out.push('');
  out.push(`-> #0 (${closing.to.name}): [${closing.thread}]`);
  out.push(closing.stack || '       <stacks off>');
  out.push('');
  if (names.length >= 3) {
    out.push('Chain exists of:');
    out.push('  ' + names.join(' --> '));
    out.push('');
  }
  const parent = path.length > 0 ? path[path.length - 1]!.from.name : closing.to.name;
  const pad = ' '.repeat(31);
  out.push(' Possible unsafe locking scenario:');
  out.push('');
  out.push('       CONTEXT0                CONTEXT1');
  out.push('       ----                    ----');
  out.push(`  ${fromExclusive ? 'lock' : 'rlock'}(${closing.from.name});`);
  out.push(`${pad}lock(${parent});`);
  out.push(`${pad}lock(${closing.from.name});`);
  out.push(`  ${toRecursive || closing.toRead !== 0 ? 'rlock' : 'lock'}(${closing.to.name});`);
  out.push('');
  out.push(' *** DEADLOCK ***');
  return out.join('\n');
}

export function recursiveText(who: string, next: { cls: Cls; read: number }, prev: Entry, current: string, held: Entry[]): string {
  const n = next.cls.name;
  return [
    banner('WARNING: possible recursive locking detected'),
    `${who} is trying to acquire lock:`,
    `${lockLine(n, next.read)}, at: ${firstFrame(current)}`,
    '',
    'but task is already holding lock:',
    lockLine(prev.cls.name, prev.read),
    '',
    'other info that might help us debug this:',
    ' Possible unsafe locking scenario:',
    '',
    '       CONTEXT0',
    '       ----',
    `  ${prev.read ? 'rlock' : 'lock'}(${n});`,
    `  ${next.read ? 'rlock' : 'lock'}(${n});`,
    '',
    ' *** DEADLOCK ***',
    '',
    ' May be due to missing lock nesting notation',
    '',
    heldSection(held),
    'stack backtrace:',
    current,
  ].join('\n');
}

export function badUnlockText(who: string, name: string, current: string, held: Entry[]): string {
  return [
    banner('WARNING: bad unlock balance detected!'),
    `${who} is trying to release lock (${name}) at:`,
    current || '       <stacks off>',
    'but there are no more locks to release!',
    '',
    'other info that might help us debug this:',
    heldSection(held),
  ].join('\n');
}

export function heldFreedText(who: string, what: string, held: Entry[], current: string): string {
  return [
    banner('WARNING: held lock freed!'),
    `${who} is freeing ${what}, with a lock still held there!`,
    ...held.map((e) => lockLine(e.cls.name, e.read)),
    '',
    current || '       <stacks off>',
  ].join('\n');
}

export function heldAtExitText(who: string, held: Entry[]): string {
  return [
    banner('WARNING: thread exiting with locks held!'),
    `${who} is exiting but still holds ${held.length} lock${held.length === 1 ? '' : 's'}:`,
    ...held.map((e, i) => ` #${i}:${lockLine(e.cls.name, e.read)}`),
  ].join('\n');
}

export function droppedText(who: string, e: Entry): string {
  return [
    banner('WARNING: lock held when its task ended!'),
    `${who}: the last reference to the guard of`,
    lockLine(e.cls.name, e.read),
    'is gone, but the lock was never released: nothing can release it now.',
    'The task that took it ended (or dropped its guard) without unlock()/release().',
  ].join('\n');
}

export function invalidWaitText(who: string, wait: 'sync' | 'async', what: string, why: string, culprits: Entry[], current: string): string {
  return [
    banner('BUG: Invalid wait context'),
    `${who} is trying to ${wait === 'sync' ? 'block the thread in' : 'await'}: ${what}`,
    `but ${why}:`,
    ...culprits.map((e) => lockLine(e.cls.name, e.read)),
    '',
    'stack backtrace:',
    current || '       <stacks off>',
  ].join('\n');
}

export const USAGE_NAMES = ['', 'HELD-ACROSS-AWAIT', 'SYNC-BLOCKING-ACQUIRE'];

export function inconsistentText(who: string, cls: Cls, acrossSite: string, syncSite: string, current: string): string {
  const n = cls.name;
  const pad = ' '.repeat(31);
  return [
    banner('WARNING: inconsistent lock state'),
    'inconsistent {HELD-ACROSS-AWAIT} and {SYNC-BLOCKING-ACQUIRE} usage.',
    `${who} takes:`,
    ` (${n}), at: ${firstFrame(current)}`,
    '{HELD-ACROSS-AWAIT} state was registered at:',
    acrossSite || '       <stacks off>',
    '{SYNC-BLOCKING-ACQUIRE} state was registered at:',
    syncSite || '       <stacks off>',
    '',
    'other info that might help us debug this:',
    ' Possible unsafe locking scenario:',
    '',
    '       TASK0 (async)           THREAD (sync, same thread)',
    '       ----                    ----',
    `  lock(${n});`,
    '  <await>',
    `${pad}lockSync(${n});`,
    `${pad}<blocks: TASK0 never runs again>`,
    '',
    ' *** DEADLOCK ***',
  ].join('\n');
}

export function inversionText(who: string, safe: Cls, unsafe: Cls, path: Edge[], safeSite: string, unsafeSite: string): string {
  const pad = ' '.repeat(31);
  const chain = path.length ? [path[0]!.from.name, ...path.map((e) => e.to.name)] : [safe.name];
  return [
    banner('WARNING: HELD-ACROSS-AWAIT-safe -> SYNC-BLOCKING-unsafe lock order detected'),
    `${who}: a lock held across await depends on a lock that is acquired by blocking the thread.`,
    '',
    `the HELD-ACROSS-AWAIT lock: (${safe.name}), registered at:`,
    safeSite || '       <stacks off>',
    `the SYNC-BLOCKING-ACQUIRE lock: (${unsafe.name}), registered at:`,
    unsafeSite || '       <stacks off>',
    '',
    `dependency chain: ${chain.join(' --> ')}`,
    '',
    ' Possible interrupt-unsafe locking scenario:',
    '',
    '       TASK0 (async)           THREAD (sync, same thread)',
    '       ----                    ----',
    `${pad}lockSync(${unsafe.name});`,
    `  lock(${safe.name});`,
    '  <await>',
    `${pad}lockSync(${safe.name});  <blocks>`,
    `  lock(${unsafe.name});       <never runs>`,
    '',
    ' *** DEADLOCK ***',
  ].join('\n');
}
