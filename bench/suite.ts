/*
 * The benchmark suite: every group, in one process, each figure with its same-run baseline.
 * Groups run one after another (never concurrently) so they do not disturb each other.
 */
import type { Row } from './harness.js';
import { benchLockdep } from './lockdep.js';
import { benchLocks } from './locks.js';
import { benchRcu } from './rcu.js';
import { benchRef } from './ref.js';

const groups: [string, () => Promise<Row[]>][] = [
  ['rcu', benchRcu],
  ['ref', benchRef],
  ['locks', benchLocks],
  ['lockdep', benchLockdep],
];

/** The group names, in running order: what `quiesce bench --only` accepts. */
export const groupNames: readonly string[] = groups.map(([name]) => name);

export async function runSuite(only: string | undefined, progress: (group: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [name, fn] of groups) {
    if (only && !only.split(',').includes(name)) continue;
    progress(name);
    rows.push(...(await fn()));
  }
  return rows;
}
