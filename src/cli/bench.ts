/* `quiesce bench [--json FILE] [--only GROUP,...]`: run the benchmark groups and print the table. */
import { writeFileSync } from 'node:fs';
import { checkOutputs, parseArgs, UsageError } from './args.js';
import { lockdep } from '../lockdep/index.js';

export async function runBench(argv: string[]): Promise<number> {
  const { options, rest } = parseArgs(argv, ['json', 'only']);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  const bad = checkOutputs(options, ['json']); // before minutes of benchmarking, not after
  if (bad) {
    process.stderr.write(`quiesce bench: ${bad}\n`);
    return 2;
  }
  if (lockdep.enabled) {
    // Every figure is quiesce without lockdep (the lockdep group starts its own lockdep-on worker),
    // and a thread that ever had lockdep on runs async code slower for good (README section 11):
    // refuse rather than print ratios that mean something else.
    process.stderr.write('quiesce bench: lockdep is enabled in this process (QUIESCE_LOCKDEP=1?); the benchmarks measure quiesce without it: run them without QUIESCE_LOCKDEP\n');
    return 2;
  }
  let suite: typeof import('../../bench/suite.js');
  let harness: typeof import('../../bench/harness.js');
  try {
    suite = await import('../../bench/suite.js');
    harness = await import('../../bench/harness.js');
  } catch (e) {
    process.stderr.write(`quiesce bench: the benchmark suite ships with the repository, not the npm package: clone it, npm ci, then npx quiesce bench (${(e as Error).message})\n`);
    return 2;
  }
  const { runSuite, groupNames } = suite;
  const only = options.get('only');
  const unknown = only?.split(',').filter((g) => !groupNames.includes(g)) ?? [];
  if (unknown.length > 0) throw new UsageError(`--only: no benchmark group ${unknown.map((g) => `'${g}'`).join(', ')} (groups: ${groupNames.join(', ')})`);
  const { formatTable } = harness;
  const rows = await runSuite(only, (g) => process.stderr.write(`running ${g} ...\n`));
  process.stdout.write(`${formatTable(rows)}\n`);
  const targeted = rows.filter((r) => !r.target.startsWith('('));
  const missed = targeted.filter((r) => !r.met);
  process.stdout.write(`\n${targeted.length - missed.length}/${targeted.length} figures meet their targets${missed.length ? ` (missed: ${missed.map((r) => `${r.group}: ${r.name}`).join('; ')})` : ''}\n`);
  if (options.has('json')) {
    try {
      writeFileSync(options.get('json')!, JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2));
    } catch (e) {
      // checked before the run, but the file may have become unwritable since: say so, exit 2
      process.stderr.write(`quiesce bench: cannot write --json ${options.get('json')}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  return 0;
}
