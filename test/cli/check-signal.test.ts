/*
 * `quiesce check` exits 1 only when lockdep found a problem (SPEC §7), else with the program's own
 * status. A program killed by a signal has no exit code of its own; its status is what a shell
 * reports, 128 + the signal number. Before the fix such a run exited 1, which reads as "lockdep
 * found a problem" to CI although none was reported.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('quiesce check, program killed by a signal', () => {
  it('exits 128 + the signal number, not 1, when there are no reports', () => {
    const r = spawnSync(process.execPath, [cli, 'check', '--', process.execPath, '-e', "process.kill(process.pid, 'SIGKILL')"], {
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, QUIESCE_LOCKDEP: '' },
    });
    assert.match(r.stderr, /no lockdep reports \(killed by SIGKILL\)/);
    assert.equal(r.status, 128 + constants.signals.SIGKILL, r.stderr);
  });
});
