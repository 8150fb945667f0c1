/* Actions (throw / warn / collect), listeners, report text, graph output and env enabling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lockdep, type LockdepReport } from '../../src/lockdep/index.js';
import { ld } from '../../src/lockdep/hooks.js';

const A = lockdep.lockClass('act.A');
const B = lockdep.lockClass('act.B');
const C = lockdep.lockClass('act.C');

function order(x: typeof A, y: typeof A) {
  lockdep.acquire(x);
  lockdep.acquire(y);
  lockdep.release(y);
  lockdep.release(x);
}

/** Runs fn with process.stderr.write captured; the text ends up in `captured`. */
function captureStderr(fn: () => void): void {
  const orig = process.stderr.write.bind(process.stderr);
  let out = '';
  (process.stderr as { write: unknown }).write = (chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  };
  try {
    fn();
  } finally {
    (process.stderr as { write: unknown }).write = orig;
    captured = out;
  }
}
let captured = '';

test("throw: the acquisition that closes a cycle throws ERR_LOCKDEP and records nothing", () => {
  lockdep.enable({ action: 'throw' });
  lockdep.reset();
  order(A, B);
  lockdep.acquire(B);
  assert.throws(() => lockdep.acquire(A), (e: unknown) => (e as { code?: string }).code === 'ERR_LOCKDEP' && /circular/.test(String((e as Error).message)));
  assert.equal(ld.isHeld(A), false, 'nothing acquired');
  assert.ok(ld.isHeld(B));
  lockdep.release(B);
  assert.ok(!lockdep.graph().edges.some((e) => e.from === 'act.B' && e.to === 'act.A'), 'no edge recorded');
  assert.equal(lockdep.reports().length, 1);
  // still throws the second time (nothing was cached)
  lockdep.acquire(B);
  assert.throws(() => lockdep.acquire(A), { code: 'ERR_LOCKDEP' });
  lockdep.release(B);
  assert.equal(lockdep.reports().length, 1, 'deduplicated');
});

test('throw: recursive locking throws before recording', () => {
  lockdep.reset();
  lockdep.acquire(A);
  assert.throws(() => lockdep.acquire(A), { code: 'ERR_LOCKDEP' });
  lockdep.release(A);
  lockdep.assertNotHeld(A);
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['recursive']);
});

test('warn: printed to stderr once per distinct problem', () => {
  lockdep.enable({ action: 'warn' });
  lockdep.reset();
  captureStderr(() => {
    order(A, B);
    order(B, A);
    order(B, A);
    lockdep.reset();
    order(A, B);
    order(B, A); // after reset it is a new problem again
  });
  const n = captured.split('possible circular locking dependency detected').length - 1;
  assert.equal(n, 2);
  lockdep.reset();
  captureStderr(() => {
    order(A, B);
    order(B, C);
    order(C, A);
    order(C, A);
  });
  assert.equal(captured.split('possible circular locking dependency detected').length - 1, 1);
});

test('collect: records without printing; listeners see every report and can unsubscribe', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const seen: LockdepReport[] = [];
  const off = lockdep.onReport((r) => seen.push(r));
  captureStderr(() => {
    order(A, B);
    order(B, A);
  });
  assert.equal(captured, '');
  assert.equal(seen.length, 1);
  off();
  lockdep.release(C); // bad unlock
  assert.equal(seen.length, 1, 'unsubscribed');
  assert.deepEqual(lockdep.reports().map((r) => r.kind), ['circular', 'bad-unlock']);
});

test('report text: kernel-style circular report with the scenario', () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  order(A, B);
  order(B, C);
  lockdep.acquire(C);
  lockdep.acquire(A, { mode: 'read' });
  lockdep.release(A);
  lockdep.release(C);
  const [r] = lockdep.reports();
  assert.ok(r);
  assert.equal(r.kind, 'circular');
  assert.deepEqual(r.classes, ['act.A', 'act.B', 'act.C']);
  for (const re of [
    /WARNING: possible circular locking dependency detected/,
    /main \(task \d+\) is trying to acquire lock:\n \(act\.A\)\{read\}, at: .*actions\.test/,
    /but task is already holding lock:\n \(act\.C\)\{write\}/,
    /the existing dependency chain \(in reverse order\) is:/,
    /-> #2 \(act\.C\):\n\s+at .*actions\.test/,
    /-> #1 \(act\.B\):/,
    /-> #0 \(act\.A\):/,
    /Chain exists of:\n  act\.A --> act\.B --> act\.C/,
    /Possible unsafe locking scenario:/,
    /CONTEXT0\s+CONTEXT1/,
    /\n  lock\(act\.C\);\n\s+lock\(act\.B\);\n\s+lock\(act\.C\);\n  rlock\(act\.A\);/,
    /\*\*\* DEADLOCK \*\*\*/,
  ]) {
    assert.match(r.text, re);
  }
  assert.doesNotMatch(r.text, /src\/lockdep/, "quiesce's own frames are dropped");
});

test('stacks: false captures no stacks', () => {
  lockdep.enable({ action: 'collect', stacks: false });
  lockdep.reset();
  order(A, B);
  order(B, A);
  assert.doesNotMatch(lockdep.reports()[0]!.text, /actions\.test/);
  lockdep.enable({ action: 'collect' });
});

test('graph() and toDot()', () => {
  lockdep.reset();
  order(A, B);
  lockdep.acquire(B, { mode: 'read' });
  lockdep.acquire(C, { mode: 'recursive-read' });
  lockdep.release(C);
  lockdep.release(B);
  const g = lockdep.graph();
  assert.deepEqual(g.classes, ['act.A', 'act.B', 'act.C']);
  assert.deepEqual(g.edges, [
    { from: 'act.A', to: 'act.B', type: 'EN' },
    { from: 'act.B', to: 'act.C', type: 'SR' },
  ]);
  const dot = lockdep.toDot();
  assert.match(dot, /^digraph lockdep \{/);
  assert.match(dot, /"act.A" -> "act.B" \[label="EN"/);
});

test('disabled: annotations cost nothing and record nothing', () => {
  lockdep.reset();
  lockdep.disable();
  assert.equal(lockdep.enabled, false);
  assert.equal(ld.on, false);
  order(A, B);
  order(B, A);
  assert.deepEqual(lockdep.reports(), []);
  lockdep.enable({ action: 'collect' });
  assert.equal(ld.on, true);
  lockdep.reset();
});

test('QUIESCE_LOCKDEP=1 enables at load; QUIESCE_LOCKDEP_ACTION picks the action', () => {
  const url = new URL('../../src/lockdep/index.js', import.meta.url).href;
  const code = `import(${JSON.stringify(url)}).then(({lockdep}) => { const a = lockdep.lockClass('A'), b = lockdep.lockClass('B');
    lockdep.acquire(a); lockdep.acquire(b); lockdep.release(b); lockdep.release(a);
    lockdep.acquire(b); try { lockdep.acquire(a); console.log('no-throw'); } catch (e) { console.log(lockdep.enabled, e.code); } })`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, QUIESCE_LOCKDEP: '1', QUIESCE_LOCKDEP_ACTION: 'throw' },
    encoding: 'utf8',
  });
  assert.equal(out.trim(), 'true ERR_LOCKDEP');
  lockdep.disable();
});
