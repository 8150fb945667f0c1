/* Every example in examples/ runs, and prints what its comment promises. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

function run(name: string): Promise<string> {
  const file = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [file], { timeout: 60000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

describe('examples', () => {
  it('rcu-hot-swap: no reader ever sees a destroyed table', async () => {
    assert.match(await run('rcu-hot-swap'), /readers that saw a destroyed table: 0$/m);
  });
  it('srcu-async-reader: synchronize waits for a reader suspended at an await', async () => {
    assert.equal((await run('srcu-async-reader')).trim(), 'reader: inside\nreader: leaving\nupdater: grace period over');
  });
  it('percpu-ref-teardown: killAndDrain waits; onRelease once; killAll shares grace periods', async () => {
    const out = await run('percpu-ref-teardown');
    assert.match(out, /killAndDrain waited for the worker's references/);
    assert.match(out, /onRelease ran 1 time\(s\)/);
    assert.match(out, /killAll\(1000\): all released, [12] grace period\(s\)/);
  });
  it('mutex-workers: exact count under contention; ownerDied after the owner is terminated', async () => {
    const out = await run('mutex-workers');
    assert.match(out, /counter = 6000 \(expected 6000\)/);
    assert.match(out, /ownerDied = true/);
  });
  it('revocable-handoff: revoke refuses new access and waits for the handed-off one', async () => {
    const out = await run('revocable-handoff');
    assert.match(out, /new access after revoke began: refused/);
    assert.match(out, /revoke waited for the access held in the worker/);
  });
  it('lockdep-abba: the inversion is reported', async () => {
    const out = await run('lockdep-abba');
    assert.match(out, /^circular: (accounts -> audit|audit -> accounts)/m);
    assert.match(out, /possible circular locking dependency detected/);
  });
});
