#!/usr/bin/env node
/*
 * The quiesce command line:
 *   quiesce check [--html FILE] [--json FILE] -- <command ...>   run a program under lockdep
 *   quiesce demo                                                the flagship demo (also npm start)
 *   quiesce bench [--json FILE] [--only GROUP,...]              the benchmark suite
 *   quiesce --help, quiesce <command> --help                   usage (exit 0)
 */
import { UsageError } from './args.js';
import { runCheck } from './check.js';

const COMMANDS: Record<string, string> = {
  check: `  quiesce check [--html FILE] [--json FILE] -- <command ...>
      Run a Node program with lockdep on in every thread; print every report when it ends.
      Exit 1 if any problem was found, else the program's own exit code.
`,
  demo: `  quiesce demo
      The flagship demo: a multi-worker service showing drain, revoke, RCU hot-swap and a lockdep catch.
`,
  bench: `  quiesce bench [--json FILE] [--only GROUP,...]
      The benchmark suite: every figure beside its baseline measured in the same run.
      --only runs just the named groups: rcu, ref, locks, lockdep (comma-separated).
`,
};
const USAGE = `usage:\n${Object.values(COMMANDS).join('')}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `quiesce <command> --help`: that command's usage, and nothing run (help is not a usage error)
  if (cmd !== undefined && Object.hasOwn(COMMANDS, cmd) && (rest[0] === '--help' || rest[0] === '-h')) {
    process.stdout.write(`usage:\n${COMMANDS[cmd]}`);
    return 0;
  }
  switch (cmd) {
    case 'check':
      return runCheck(rest);
    case 'demo': {
      if (rest.length > 0) throw new UsageError(`takes no arguments (got ${rest.join(' ')})`);
      const { runDemo } = await import('./demo.js');
      return runDemo(rest);
    }
    case 'bench': {
      const { runBench } = await import('./bench.js');
      return runBench(rest);
    }
    case undefined:
      // a usage error like any other: message and usage on stderr, exit 2
      process.stderr.write(`quiesce: no command given\n\n${USAGE}`);
      return 2;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`quiesce: unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      // bad input is the user's, not a crash: the message and the usage, no stack
      const cmd = argv[0]!;
      process.stderr.write(`quiesce ${cmd}: ${e.message}\n\nusage:\n${COMMANDS[cmd] ?? USAGE}`);
    } else {
      process.stderr.write(`quiesce: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    process.exitCode = 2;
  },
);
