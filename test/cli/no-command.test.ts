/*
 * `quiesce` with no command is a usage error (exit 2): like every other usage error its usage
 * goes to stderr, so `quiesce | cmd` or `out=$(quiesce)` in a script does not take the usage text
 * for the command's output. `quiesce --help` (exit 0) still prints it on stdout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });

describe('quiesce with no command', () => {
  it('exits 2 with a message and the usage on stderr, nothing on stdout', () => {
    const r = run([]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /quiesce: no command given/);
    assert.match(r.stderr, /usage:\n  quiesce check/);
  });
  it('--help still prints the usage on stdout and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /usage:\n  quiesce check/);
  });
});
