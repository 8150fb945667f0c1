/*
 * Asking for help is not a usage error: `quiesce --help` prints the usage and exits 0, and so
 * must `quiesce <command> --help` (or -h) for each command, printing that command's usage on
 * stdout and running nothing. Before the fix each command refused --help as an unknown option
 * or argument and exited 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('quiesce <command> --help', () => {
  for (const cmd of ['check', 'bench', 'demo']) {
    for (const flag of ['--help', '-h']) {
      it(`${cmd} ${flag} prints the ${cmd} usage and exits 0`, () => {
        const r = spawnSync(process.execPath, [cli, cmd, flag], { encoding: 'utf8', timeout: 30000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`usage:\\n  quiesce ${cmd}`));
        assert.doesNotMatch(r.stdout + r.stderr, /running|phase 1/, 'it ran the command');
      });
    }
  }
  it('quiesce --help still exits 0; an unknown command still exits 2', () => {
    assert.equal(spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }).status, 0);
    assert.equal(spawnSync(process.execPath, [cli, 'nonsense'], { encoding: 'utf8' }).status, 2);
  });
});
