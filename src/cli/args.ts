/* Tiny option parsing for the CLI: `--name VALUE` pairs, then `--` and the rest verbatim. */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

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
      throw new UsageError(`unknown option ${a} (known: ${known.map((k) => '--' + k).join(', ')})`);
    }
    // `--html -- cmd` or `--json --html x`: the next word is not a value (write --json=--x for that file)
    const value = eq > 0 ? a.slice(eq + 1) : argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[++i] : undefined;
    if (value === undefined || value === '') throw new UsageError(`option --${name} needs a value`);
    options.set(name, value);
  }
  return { options, rest: argv.slice(i) };
}

/**
 * Why `file` cannot be written (its directory is missing or not writable, or it is a directory
 * or a read-only file), or null if it can. Asked before the work whose result goes there, so a
 * bad path costs nothing and does not hide the work's own outcome.
 */
export function unwritable(file: string): string | null {
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
  } catch {
    return `directory ${dir} does not exist`;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return `directory ${dir} is not writable`;
  }
  try {
    const st = statSync(file);
    if (st.isDirectory()) return `${file} is a directory`;
    accessSync(file, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `${file} is not writable`;
  }
  return null;
}

/** unwritable() for every output option given: the first problem as a message, else null. */
export function checkOutputs(options: Map<string, string>, names: string[]): string | null {
  for (const name of names) {
    const file = options.get(name);
    if (file === undefined) continue;
    const why = unwritable(file);
    if (why) return `cannot write --${name} ${file}: ${why}`;
  }
  return null;
}
