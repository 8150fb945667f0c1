/*
 * `quiesce bench --json FILE` checks FILE before the run (minutes of benchmarking must not be lost
 * to a typo), but the file can become unwritable during the run: its directory removed. That was an
 * uncaught exception with a stack trace; it is a clear message and exit 2, like every other output
 * error of the CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('quiesce bench --json, output gone during the run', () => {
  it('says it cannot write the file and exits 2 (no stack trace)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quiesce-bench-json-'));
    const out = join(dir, 'bench.json');
    const p = spawn(process.execPath, [cli, 'bench', '--only', 'rcu', '--json', out], { env: { ...process.env, QUIESCE_LOCKDEP: '' } });
    let stderr = '';
    let removed = false;
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => {
      stderr += s;
      if (!removed && stderr.includes('running rcu')) {
        removed = true;
        rmSync(dir, { recursive: true, force: true }); // after the up-front check, before the write
      }
    });
    const status = await new Promise<number | null>((res) => p.on('close', res));
    assert.equal(removed, true);
    assert.equal(status, 2, stderr);
    assert.match(stderr, /quiesce bench: cannot write --json/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'a stack trace');
  });
});
