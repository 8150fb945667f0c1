/* Tiny option parsing for the CLI: `--name VALUE` pairs, then `--` and the rest verbatim. */
export interface Parsed {
  options: Map<string, string>;
  rest: string[];
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
      throw new Error(`unknown option ${a} (known: ${known.map((k) => '--' + k).join(', ')})`);
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`option --${name} needs a value`);
    options.set(name, value);
  }
  return { options, rest: argv.slice(i) };
}
