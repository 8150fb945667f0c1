/*
 * One graph per process: A->B taken in worker 1 and B->A in worker 2 is one 'circular' report,
 * visible in the main thread (it arrives over the BroadcastChannel a turn later).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockdep } from '../../src/lockdep/index.js';

const fixture = new URL('./fixture-worker.js', import.meta.url);

/** Start the fixture; resolves once it has taken its locks. `exited` is armed before it can exit. */
function start(order: string[], exitHolding = false): Promise<Worker & { exited: Promise<void> }> {
  const w = Object.assign(new Worker(fixture, { workerData: { order, exitHolding } }), { exited: Promise.resolve() });
  w.exited = new Promise((r) => w.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve(w));
    w.once('error', reject);
  });
}

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(10);
  }
  return pred();
}

test('A->B in worker 1 and B->A in worker 2: main sees one circular report naming A and B', { timeout: 30000 }, async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  const w1 = await start(['xt.A', 'xt.B']);
  const w2 = await start(['xt.B', 'xt.A']);
  const ok = await waitFor(() => lockdep.reports().some((r) => r.kind === 'circular'), 10000);
  await sleep(150); // let duplicates (if any) arrive: they must be folded into one
  const exited = Promise.all([w1, w2].map((w) => new Promise((r) => w.once('exit', r))));
  w1.postMessage('quit');
  w2.postMessage('quit');
  await exited;
  assert.ok(ok, 'no circular report reached main');
  const circ = lockdep.reports().filter((r) => r.kind === 'circular');
  assert.equal(circ.length, 1, circ.map((r) => r.text).join('\n\n'));
  assert.deepEqual([...circ[0]!.classes].sort(), ['xt.A', 'xt.B']);
  assert.match(circ[0]!.text, /circular locking dependency/);
  assert.match(circ[0]!.text, /worker \d+/);
  const edges = lockdep.graph().edges.map((e) => `${e.from}->${e.to}`);
  assert.ok(edges.includes('xt.A->xt.B'), 'main merged the workers\' edges');
});

test('a worker that exits holding locks: held-at-exit naming the class', { timeout: 30000 }, async () => {
  lockdep.reset();
  const w = await start(['xt.Held'], true);
  await w.exited; // armed at start: a worker that exits right after its message is not missed
  const ok = await waitFor(() => lockdep.reports().some((r) => r.kind === 'held-at-exit'), 10000);
  assert.ok(ok);
  const r = lockdep.reports().find((x) => x.kind === 'held-at-exit')!;
  assert.deepEqual(r.classes, ['xt.Held']);
  assert.match(r.text, /worker \d+ is exiting but still holds 1 lock/);
  lockdep.reset();
  lockdep.disable();
});

test("a cycle closed by another thread's edge prints the kernel's scenario, rlock for a reader", async () => {
  const { remoteCircularText } = await import('../../src/lockdep/report.js');
  const { intern } = await import('../../src/lockdep/classes.js');
  const [slab, hotplug] = [intern('xt.text.slab'), intern('xt.text.hotplug')];
  // worker 1 took hotplug for read under slab (slab -EN-> hotplug, hotplug as a reader);
  // worker 2's hotplug(write) -> slab is already in this thread's graph
  const closing = { from: slab, to: hotplug, dep: 8, stack: '', thread: 'worker 1', local: false, toRead: 1 };
  const back = { from: hotplug, to: slab, dep: 8, stack: '', thread: 'worker 2', local: true, toRead: 0 };
  const lines = remoteCircularText('main (task 1)', closing, [back], true, false).split('\n');
  const at = lines.indexOf(' Possible unsafe locking scenario:');
  assert.ok(at > 0);
  assert.deepEqual(lines.slice(at + 4, at + 8).map((l) => l.trim()), ['lock(xt.text.slab);', 'lock(xt.text.hotplug);', 'lock(xt.text.slab);', 'rlock(xt.text.hotplug);']);
  const shared = remoteCircularText('main (task 1)', { ...closing, dep: 4, toRead: 0 }, [back], false, false);
  assert.match(shared, /^ {2}rlock\(xt\.text\.slab\);$/m, 'held as a reader (S?): rlock');
});

test("an inversion closed by another thread's edge: 'inconsistent-usage' here, whichever came first", { timeout: 30000 }, async () => {
  lockdep.enable({ action: 'collect' });
  lockdep.reset();
  // This thread's usage first: 'xt.inv.S' held across an await, 'xt.inv.U' taken sync-blocking.
  const [s, u] = [lockdep.lockClass('xt.inv.S'), lockdep.lockClass('xt.inv.U')];
  lockdep.acquire(s, { wait: 'async' });
  await sleep(1); // released in a later turn: held across an await
  lockdep.release(s);
  lockdep.acquire(u, { wait: 'sync' });
  lockdep.release(u);
  assert.deepEqual(lockdep.reports(), [], 'no edge S -> U yet: nothing to report');
  // Then a worker takes U under S: the edge S -> U arrives over the channel.
  const w = await start(['xt.inv.S', 'xt.inv.U']);
  const ok = await waitFor(() => lockdep.reports().some((r) => r.kind === 'inconsistent-usage'), 10000);
  const exited = new Promise((r) => w.once('exit', r));
  w.postMessage('quit');
  await exited;
  assert.ok(ok, `no inconsistent-usage report reached main: ${lockdep.reports().map((r) => r.kind)}`);
  const inv = lockdep.reports().filter((r) => r.kind === 'inconsistent-usage');
  assert.equal(inv.length, 1, inv.map((r) => r.text).join('\n\n'));
  assert.deepEqual(inv[0]!.classes, ['xt.inv.S', 'xt.inv.U']);
  assert.match(inv[0]!.text, /xt\.inv\.S/);
  lockdep.reset();
  lockdep.disable();
});
