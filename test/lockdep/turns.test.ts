/*
 * Event-loop turns (context.ts stamp()). One async resource can run MANY turns: every tick of a
 * setInterval, every 'message' of a MessagePort (a worker's parentPort!) runs with the same
 * executionAsyncId. A hold taken in one such callback and released in a later one was held across
 * a turn, exactly as one taken in one setTimeout callback and released in another: the thread went
 * back to the event loop in between (HELD-ACROSS-AWAIT; a blocking wait meanwhile is 'invalid-wait').
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { AsyncResource } from 'node:async_hooks';
import { Domain, lockdep, type MutexGuard } from '../../src/index.js';
import { debugCounts } from '../../src/lockdep/context.js';

lockdep.enable({ action: 'collect' });
const d = Domain.create({ name: 'ld-turns', maxThreads: 2 });
const zero = { live: 0, carriers: 0, asyncHeld: 0, rcuHeld: 0 };

/** Runs steps[i] in the i-th tick of one setInterval (one resource, one async id, many turns). */
function inTicks(steps: (() => void)[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let i = 0;
    const t = setInterval(() => {
      try {
        steps[i++]!();
      } catch (e) {
        clearInterval(t);
        reject(e);
        return;
      }
      if (i === steps.length) {
        clearInterval(t);
        resolve();
      }
    }, 1);
  });
}

/** Runs steps[i] on the i-th message of one MessagePort. */
async function inMessages(steps: (() => void)[]): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  try {
    await new Promise<void>((resolve, reject) => {
      let i = 0;
      port1.on('message', () => {
        try {
          steps[i++]!();
          if (i === steps.length) resolve();
          else port2.postMessage(i); // the next message: a later turn of the same resource
        } catch (e) {
          reject(e);
        }
      });
      port2.postMessage(0);
    });
  } finally {
    port1.close();
  }
}

for (const [name, run] of [['setInterval ticks', inTicks], ['MessagePort messages', inMessages]] as const) {
  test(`${name}: a lockSync() hold taken in one and released in the next was held across a turn (inconsistent-usage)`, async () => {
    lockdep.reset();
    const m = d.mutex(`turns.${name}.M`);
    for (let i = 0; i < 3; i++) m.lockSync().unlock(); // warm: the steady-state path
    let g: MutexGuard | null = null;
    await run([() => void (g = m.lockSync()), () => g!.unlock()]);
    assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), [`inconsistent-usage:${m.lockdepClass.name}`]);
    assert.deepEqual(debugCounts(), zero);
    lockdep.reset();
  });

  test(`${name}: a cached lockSync() in a later one while an earlier one's hold is kept -> invalid-wait`, async () => {
    lockdep.reset();
    const m = d.mutex(`turns.${name}.WM`);
    const n = d.mutex(`turns.${name}.WN`);
    for (let i = 0; i < 3; i++) n.lockSync().unlock();
    let g: MutexGuard | null = null;
    await run([
      () => void (g = m.lockSync()),
      () => {
        n.lockSync().unlock(); // M is still held, taken in an earlier turn
        g!.unlock();
      },
    ]);
    const kinds = lockdep.reports().map((r) => r.kind);
    assert.ok(kinds.includes('invalid-wait'), `got ${JSON.stringify(kinds)}`);
    assert.deepEqual(debugCounts(), zero);
    lockdep.reset();
  });
}

test('leaving an async id and coming back in one synchronous stretch (AsyncResource.runInAsyncScope) is still its turn', async () => {
  lockdep.reset();
  const m = d.mutex('turns.scope.M');
  const n = d.mutex('turns.scope.N');
  const scope = new AsyncResource('turns.scope');
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      // a timer callback: outside any promise reaction, the async id is the timer's
      for (let i = 0; i < 3; i++) m.lockSync().unlock();
      const g = m.lockSync();
      scope.runInAsyncScope(() => n.tryLock()?.unlock()); // another async id, same stretch of code
      g.unlock(); // back in the timer's id: still the turn M was taken in
      resolve();
    }, 1),
  );
  scope.emitDestroy();
  assert.deepEqual(lockdep.reports().map((r) => `${r.kind}:${r.classes}`), []);
  assert.deepEqual(debugCounts(), zero);
});

test('control: lock and unlock within each tick is no report', async () => {
  lockdep.reset();
  const m = d.mutex('turns.ctl.M');
  const n = d.mutex('turns.ctl.N');
  const nest = () => {
    const g = m.lockSync();
    n.lockSync().unlock();
    g.unlock();
  };
  await inTicks([nest, nest, nest]);
  await inMessages([nest, nest, nest]);
  assert.deepEqual(lockdep.reports(), []);
  assert.deepEqual(debugCounts(), zero);
});

test('cleanup', () => d.detach());
