/* Tiny option parsing for the CLI: `--name VALUE` pairs, then `--` and the rest verbatim. */
export interface Parsed {
  options: Map<string, string>;
  rest: string[];
}

/** Bad command-line input: main prints the message and the command's usage, no stack, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseArgs(argv: string[], known: string[]): Parsed {
  const options = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : '';
    if (!known.includes(name)) {
      if (!a.startsWith('--')) break; // the command starts here (no `--` given)
      throw new UsageError(`unknown option ${a}${known.length ? ` (known: ${known.map((k) => '--' + k).join(', ')})` : ' (this command takes no options)'}`);
    }
    // `--html -- cmd` or `--json --html x`: the next word is not a value (write --json=--x for that file)
    const value = eq > 0 ? a.slice(eq + 1) : argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[++i] : undefined;
    if (value === undefined || value === '') throw new UsageError(`option --${name} needs a value`);
    options.set(name, value);
  }
  return { options, rest: argv.slice(i) };
}
