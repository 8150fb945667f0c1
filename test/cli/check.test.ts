import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const program = fileURLToPath(new URL('../fixtures/check-abba.js', import.meta.url));

function check(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [cli, 'check', ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('quiesce check', () => {
  it('exits 1 and prints a circular report naming A and B when two workers take A->B and B->A', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qcheck-'));
    const json = join(dir, 'r.json');
    const html = join(dir, 'r.html');
    const r = check(['--json', json, '--html', html, '--', process.execPath, program, 'abba']);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /fixture program finished/);
    assert.match(r.out, /possible circular locking dependency detected/);
    assert.match(r.out, /\(A\)/);
    assert.match(r.out, /\(B\)/);
    const data = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(data.reports.length, 1);
    assert.equal(data.reports[0].kind, 'circular');
    assert.deepEqual([...data.reports[0].classes].sort(), ['A', 'B']);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<svg/);
    assert.match(page, /Circular dependency: (A|B) &rarr; (A|B)/);
    assert.doesNotMatch(page, /https?:\/\//, 'the page must be self-contained');
  });

  it('a program that crashes still gets its reports printed', () => {
    const r = check(['--', process.execPath, program, 'abba', 'crash']);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /the program crashes after the inversion/);
    assert.match(r.out, /exited with code 1/);
    assert.match(r.out, /possible circular locking dependency detected/);
  });

  it("exits with the program's own code and reports nothing when the order is consistent", () => {
    const r = check(['--', process.execPath, program, 'abab']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /no lockdep reports/);
    assert.doesNotMatch(r.out, /circular/);
    const failing = check(['--', process.execPath, '-e', 'process.exit(7)']);
    assert.equal(failing.status, 7);
  });

  it('usage errors exit 2', () => {
    assert.equal(check([]).status, 2);
    const r = spawnSync(process.execPath, [cli, 'nonsense'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
  });

  it('bad options print the message and the usage, no stack trace, exit 2, and run nothing', () => {
    const cases: [string[], RegExp][] = [
      [['check', '--bogus', '--', process.execPath, '-e', 'console.log("RAN")'], /unknown option --bogus/],
      [['check', '--html'], /option --html needs a value/],
      [['check', '--html', '--', process.execPath, '-e', 'console.log("RAN")'], /option --html needs a value/],
      [['check', '--json='], /option --json needs a value/],
      [['check'], /no command to run/],
      [['bench', '--bogus'], /unknown option --bogus/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });
      const out = r.stdout + r.stderr;
      assert.equal(r.status, 2, `${args.join(' ')}: ${out}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, new RegExp(`usage:\\n  quiesce ${args[0]}`), args.join(' '));
      assert.doesNotMatch(out, /\n\s+at /, `${args.join(' ')} printed a stack: ${out}`);
      assert.doesNotMatch(out, /RAN/, `${args.join(' ')} ran the program`);
    }
  });

  it('an output path that cannot be written is refused before the program runs (or the bench starts), exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qcheck-out-'));
    const cases: [string[], RegExp][] = [
      [['check', '--json=/nonexistent/dir/x.json', '--', process.execPath, '-e', 'console.log("RAN")'], /cannot write --json \/nonexistent\/dir\/x\.json: directory \/nonexistent\/dir does not exist/],
      [['check', '--html', dir, '--', process.execPath, '-e', 'console.log("RAN")'], /cannot write --html .*: .* is a directory/],
      [['bench', '--json', '/nonexistent/dir/b.json', '--only', 'lockdep'], /cannot write --json \/nonexistent\/dir\/b\.json/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });
      const out = r.stdout + r.stderr;
      assert.equal(r.status, 2, `${args.join(' ')}: ${out}`);
      assert.match(r.stderr, message, out);
      assert.doesNotMatch(out, /RAN|running lockdep/, `${args.join(' ')} ran anyway: ${out}`);
      assert.doesNotMatch(out, /\n\s+at /, `${args.join(' ')} printed a stack: ${out}`);
    }
  });

  it('bench under QUIESCE_LOCKDEP=1 is refused before any group runs (exit 2, no stack): its ratios would mean something else', () => {
    const r = spawnSync(process.execPath, [cli, 'bench', '--only', 'lockdep'], { encoding: 'utf8', timeout: 60000, env: { ...process.env, QUIESCE_LOCKDEP: '1' } });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 2, out);
    assert.match(r.stderr, /quiesce bench: lockdep is enabled in this process \(QUIESCE_LOCKDEP=1\?\)/);
    assert.doesNotMatch(out, /running lockdep/);
    assert.doesNotMatch(out, /\n\s+at /, `printed a stack: ${out}`);
  });

  it("bench --only with an unknown group and demo with any argument are refused (exit 2); the usage lists bench --only", () => {
    const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, QUIESCE_LOCKDEP: '' } });
    const bench = run(['bench', '--only', 'rcu,nosuch']);
    assert.equal(bench.status, 2, bench.stdout + bench.stderr);
    assert.match(bench.stderr, /no benchmark group 'nosuch' \(groups: rcu, ref, locks, lockdep\)/);
    assert.doesNotMatch(bench.stdout + bench.stderr, /running rcu/);
    for (const extra of [['--anything'], ['now']]) {
      const demo = run(['demo', ...extra]);
      assert.equal(demo.status, 2, demo.stdout + demo.stderr);
      assert.match(demo.stderr, new RegExp(`quiesce demo: takes no arguments \\(got ${extra[0]}\\)`));
      assert.doesNotMatch(demo.stdout, /price service/);
    }
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /quiesce bench \[--json FILE\] \[--only GROUP,\.\.\.\]/);
  });
});
