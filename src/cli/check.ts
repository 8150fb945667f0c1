/*
 * `quiesce check -- <command ...>`: run a program with lockdep on in every thread.
 *
 * The program runs as a child process with QUIESCE_LOCKDEP=1 (every thread that loads quiesce
 * enables lockdep at load; worker_threads inherit the environment whatever starts them) and
 * QUIESCE_LOCKDEP_OUT=<file>: every thread appends each report it raises to that file, one JSON
 * object per line, synchronously, so a program that crashes or calls process.exit() still leaves
 * its reports behind. When the child ends we read the file, drop duplicates (the same problem seen
 * by several threads), print every report, optionally write --json / --html, and exit 1 if any
 * problem was found, else with the program's own exit code (128 + the signal number if a signal
 * killed it, as a shell reports it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputs, parseArgs, UsageError } from './args.js';
import { renderHtml } from './html.js';

export interface StoredReport {
  kind: string;
  classes: string[];
  text: string;
  thread?: string;
  edges?: { from: string; to: string; stack?: string }[];
}

export function readReports(file: string): StoredReport[] {
  if (!existsSync(file)) return [];
  const seen = new Set<string>();
  const out: StoredReport[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let r: StoredReport;
    try {
      r = JSON.parse(line) as StoredReport;
    } catch {
      continue; // a torn last line from a killed process
    }
    const key = `${r.kind}|${r.classes.join('>')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

export async function runCheck(argv: string[]): Promise<number> {
  const { options, rest } = parseArgs(argv, ['html', 'json']);
  if (rest.length === 0) throw new UsageError('no command to run (put it after --)');
  const bad = checkOutputs(options, ['json', 'html']); // before the run: its outcome must not be lost to a bad path
  if (bad) {
    process.stderr.write(`quiesce check: ${bad}\n`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'quiesce-check-'));
  const out = join(dir, 'reports.jsonl');
  try {
    const child = spawn(rest[0]!, rest.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, QUIESCE_LOCKDEP: '1', QUIESCE_LOCKDEP_ACTION: process.env.QUIESCE_LOCKDEP_ACTION ?? 'collect', QUIESCE_LOCKDEP_OUT: out },
    });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const { code, signal, error } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
      child.once('exit', (c, s) => resolve({ code: c, signal: s }));
    });
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (error) {
      process.stderr.write(`quiesce check: could not start '${rest[0]}': ${error.message}\n`);
      return 2;
    }
    const reports = readReports(out);
    // Killed by a signal: no exit code of its own; report what a shell would (128 + signo), not
    // 1, which means "lockdep found a problem".
    const programCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
    const status = signal ? `killed by ${signal}` : `exited with code ${programCode}`;
    if (reports.length > 0) {
      process.stderr.write(`\nquiesce check: ${reports.length} lockdep report(s) while running ${rest.join(' ')} (${status}):\n\n`);
      for (const r of reports) process.stderr.write(`${r.text.trimEnd()}\n\n`);
    } else {
      process.stderr.write(`quiesce check: no lockdep reports (${status})\n`);
    }
    // Checked writable before the run; should a write still fail, say so plainly, and keep
    // exit 1 when there are problems (the signal CI acts on), else exit 2.
    let failed = false;
    const write = (name: string, data: () => string): void => {
      const file = options.get(name);
      if (file === undefined) return;
      try {
        writeFileSync(file, data());
      } catch (e) {
        failed = true;
        process.stderr.write(`quiesce check: could not write --${name} ${file}: ${(e as Error).message}\n`);
      }
    };
    write('json', () => JSON.stringify({ command: rest, exitCode: code, signal, reports }, null, 2));
    write('html', () => renderHtml(rest, reports));
    return reports.length > 0 ? 1 : failed ? 2 : programCode;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
