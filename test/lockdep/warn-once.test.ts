/*
 * SPEC §6: "'warn' prints the report to stderr once per distinct problem" -- per process, even when
 * two threads find one cross-thread cycle at the same time (review finding t02): main takes A->B,
 * a worker B->A, each merges the other's edge and finds the cycle with its own edge in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fixture } from '../helpers.js';

test('one cross-thread cycle (A->B in main, B->A in a worker) is printed once, and recorded by main', { timeout: 60000 }, () => {
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, [fileURLToPath(fixture('lockdep-warn-twice'))], { encoding: 'utf8', env: { ...process.env, QUIESCE_LOCKDEP: '' } });
    assert.equal(r.status, 0, r.stderr);
    const n = r.stderr.split('possible circular locking dependency detected').length - 1;
    assert.equal(n, 1, `run ${i}: printed ${n} times\n${r.stderr}`);
    assert.match(r.stdout, /reports in main: 1\n/);
  }
});
