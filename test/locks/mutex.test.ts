import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, code, fixture, nextMessage, sleep, spawnReady, spin, withTimeout } from '../helpers.js';

const yieldTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Mutex', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;
  let w1Slot = -1;

  before(async () => {
    d = Domain.create({ name: 'mutex-test', maxThreads: 16 });
    w1 = d.spawn(fixture('locks-worker'));
    w2 = d.spawn(fixture('locks-worker'));
    const [r1] = await Promise.all([nextMessage(w1, (m) => m.event === 'ready'), nextMessage(w2, (m) => m.event === 'ready')]);
    w1Slot = r1.slot;
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('without the lock, a yield inside the read-modify-write loses updates (the workload can fail)', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(8));
    const tasks = Array.from({ length: 50 }, async () => {
      for (let i = 0; i < 4; i++) {
        const x = counter[0]!;
        await yieldTurn();
        counter[0] = x + 1;
      }
    });
    await Promise.all([...tasks, call(w1, 'hammerUnlocked', { sab: counter.buffer, iters: 50 }), call(w2, 'hammerUnlocked', { sab: counter.buffer, iters: 50 })]);
    assert.ok(counter[0]! < 50 * 4 + 100, `expected lost updates, got the exact total ${counter[0]}`);
  });

  it('mutual exclusion: 2 workers + 50 async tasks, lock() and lockSync() mixed, plain RMW with a yield inside: exact total', async () => {
    const counter = new Int32Array(new SharedArrayBuffer(8));
    const m = d.mutex('hammer');
    const ITER_MAIN = 16;
    const ITER_W = 400;
    const tasks = Array.from({ length: 50 }, async (_, t) => {
      for (let i = 0; i < ITER_MAIN; i++) {
        if ((t + i) % 2 === 0) {
          // lock() with an await inside the critical section
          const g = await m.lock({ timeoutMs: 20000 });
          const x = counter[0]!;
          await yieldTurn();
          counter[0] = x + 1;
          g.unlock();
        } else {
          // lockSync(); if a suspended task of this thread holds it, that is ERR_DEADLOCK: wait async instead
          let g;
          try {
            g = m.lockSync({ timeoutMs: 20000 });
          } catch (e) {
            if (!code('ERR_DEADLOCK')(e)) throw e;
            g = await m.lock({ timeoutMs: 20000 });
          }
          const x = counter[0]!;
          spin(0.01);
          counter[0] = x + 1;
          g.unlock();
          await yieldTurn();
        }
      }
    });
    const workers = [call(w1, 'hammer', { name: 'hammer', sab: counter.buffer, iters: ITER_W }, 30000), call(w2, 'hammer', { name: 'hammer', sab: counter.buffer, iters: ITER_W }, 30000)];
    const replies = await withTimeout(Promise.all([...workers, ...tasks]), 40000, 'hammer');
    for (const r of replies.slice(0, 2)) assert.equal((r as { error?: string }).error, undefined);
    assert.equal(counter[0], 50 * ITER_MAIN + 2 * ITER_W);
    assert.equal(m.isLocked(), false);
    assert.equal(m.debugState().handoff, 0);
  });

  it('handoff stress: starving async waiters get the lock handed over; a granted lock never comes back to its taker', async () => {
    // Async waiters on main starve against two workers' tight lockSync loops, so the unlockers
    // keep granting (HANDOFF). A grant is two steps of the granter; a taker that wrote LOCK itself
    // could see the granter's late store re-lock the mutex after it had unlocked: the worker's
    // next lockSync then found itself named as owner (ERR_DEADLOCK) and the mutex stayed locked.
    // More busy threads than cores makes it likely that a granter is preempted between its steps.
    const w3 = await spawnReady(d, 'locks-worker');
    for (let round = 0; round < 4; round++) {
      const counter = new Int32Array(new SharedArrayBuffer(8));
      const m = d.mutex(`handoff-stress-${round}`);
      const tasks = Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 100; i++) {
          await m.withLock(
            async () => {
              const v = counter[0]!;
              await Promise.resolve();
              counter[0] = v + 1;
            },
            { timeoutMs: 10000 }, // a mutex left locked by the race fails here, not at the suite's timeout
          );
        }
      });
      const workers = [w1, w2, w3].map((w) => call(w, 'hammerSync', { name: `handoff-stress-${round}`, sab: counter.buffer, iters: 2000 }, 30000));
      const replies = await withTimeout(Promise.all([...workers, ...tasks]), 40000, 'handoff stress');
      for (const r of replies.slice(0, 3)) assert.equal((r as { error?: string }).error, undefined);
      assert.equal(counter[0], 20 * 100 + 3 * 2000);
      assert.equal(m.isLocked(), false);
      assert.equal(m.debugState().handoff, 0);
    }
    await w3.terminate();
  });

  it('tryLock, isLocked, guards: ERR_DOUBLE_UNLOCK, dispose after unlock is a no-op, using works', () => {
    const m = d.mutex('basic');
    const g = m.tryLock();
    assert.ok(g);
    assert.equal(m.isLocked(), true);
    assert.equal(m.tryLock(), null);
    assert.equal(g.ownerDied, false);
    g.unlock();
    assert.throws(() => g.unlock(), code('ERR_DOUBLE_UNLOCK'));
    g[Symbol.dispose]();
    assert.equal(m.isLocked(), false);
    {
      using g2 = m.lockSync();
      assert.equal(m.isLocked(), true);
      void g2;
    }
    assert.equal(m.isLocked(), false);
  });

  it('ERR_DEADLOCK: lockSync on a mutex this thread holds (sync, or in a suspended async task)', async () => {
    const m = d.mutex('self');
    const g = m.lockSync();
    assert.throws(() => m.lockSync(), code('ERR_DEADLOCK'));
    g.unlock();
    let release!: () => void;
    const holder = (async () => {
      const g2 = await m.lock();
      await new Promise<void>((r) => (release = r));
      g2.unlock();
    })();
    await sleep(10);
    assert.throws(() => m.lockSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    release();
    await holder;
    m.lockSync({ timeoutMs: 1000 }).unlock();
  });

  it('ERR_KIND_MISMATCH: mutex("x") then rwsem("x")', () => {
    d.mutex('x');
    assert.throws(() => d.rwsem('x'), code('ERR_KIND_MISMATCH'));
    assert.throws(() => d.completion('x'), code('ERR_KIND_MISMATCH'));
  });

  it('async waiters on one thread are woken in turn', async () => {
    const m = d.mutex('local');
    const order: number[] = [];
    const g = m.lockSync();
    const ps = [0, 1, 2].map((i) => m.withLock(async () => {
      order.push(i);
      await yieldTurn();
    }));
    await sleep(20);
    assert.deepEqual(order, []);
    g.unlock();
    await withTimeout(Promise.all(ps), 3000, 'local waiters');
    assert.deepEqual([...order].sort(), [0, 1, 2]);
  });

  it('timeout and abort of lock() and lockSync() leave the queue clean', async () => {
    const m = d.mutex('timeouts');
    await call(w1, 'mutexHold', { name: 'timeouts' });
    await assert.rejects(m.lock({ timeoutMs: 50 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(m.lock({ signal: ac.signal }), code('ERR_ABORTED'));
    await assert.rejects(m.lock({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.throws(() => m.lockSync({ timeoutMs: 50 }), code('ERR_TIMEOUT'));
    assert.throws(() => m.lockSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    assert.equal(m.debugState().handoff, 0);
    assert.equal(m.debugState().owner, w1Slot);
    await call(w1, 'release', { key: 'timeouts' });
    const g = m.tryLock();
    assert.ok(g, 'acquirable at once after the timed-out waiters left');
    g.unlock();
  });

  it('a starving async waiter claims a handoff; aborting it withdraws the claim; a granted waiter gets the lock', async () => {
    const m = d.mutex('starve');
    await call(w1, 'mutexHold', { name: 'starve', key: 'a' });
    const ac = new AbortController();
    const mine = m.lock({ signal: ac.signal });
    mine.catch(() => {});
    await sleep(20);
    // w2 blocks in lockSync; w1 unlocks while this thread is busy: w2 wins, our waiter lost a wake-up
    const w2got = call(w2, 'mutexHold', { name: 'starve', key: 'b' });
    await sleep(50);
    w1.postMessage({ id: -1, cmd: 'release', key: 'a' });
    spin(150);
    await w2got;
    await sleep(50);
    const req = m.debugState().handoff;
    assert.ok(req > 0, `the starving waiter should have asked for a handoff (HANDOFF=${req})`);
    ac.abort();
    await assert.rejects(mine, code('ERR_ABORTED'));
    assert.equal(m.debugState().handoff, 0, 'abort withdrew the handoff request');
    // again, and this time let the unlock grant it
    const again = m.lock({ timeoutMs: 5000 });
    await sleep(20);
    const w1got = call(w1, 'mutexHold', { name: 'starve', key: 'a' });
    await sleep(50);
    w2.postMessage({ id: -2, cmd: 'release', key: 'b' });
    spin(150);
    await w1got;
    await sleep(50);
    assert.ok(m.debugState().handoff > 0);
    await call(w1, 'release', { key: 'a' });
    const g = await withTimeout(again, 3000, 'granted waiter');
    assert.equal(m.debugState().owner, d.threadIndex);
    assert.equal(m.debugState().handoff, 0);
    g.unlock();
    assert.equal(m.isLocked(), false);
  });

  it('owner death: terminating the worker that holds it gives ownerDied to the next owner (sync and async)', async () => {
    const w = await spawnReady(d, 'locks-worker');
    await call(w, 'mutexHold', { name: 'robust1' });
    await call(w, 'mutexHold', { name: 'robust2' });
    const m2 = d.mutex('robust2');
    const waiting = m2.lock({ timeoutMs: 5000 });
    await sleep(20);
    await w.terminate();
    const g2 = await withTimeout(waiting, 3000, 'async waiter after owner death');
    assert.equal(g2.ownerDied, true);
    g2.unlock();
    const g1 = d.mutex('robust1').lockSync({ timeoutMs: 2000 });
    assert.equal(g1.ownerDied, true);
    g1.unlock();
    const g3 = d.mutex('robust1').lockSync({ timeoutMs: 2000 });
    assert.equal(g3.ownerDied, false);
    g3.unlock();
  });

  it('a process whose only pending work is an async lock wait does not exit early', async () => {
    const url = new URL('../../src/index.js', import.meta.url).href;
    const script = `
      import { Domain } from ${JSON.stringify(url)};
      const d = Domain.create({ name: 'exit-test', bytes: 1 << 20, maxThreads: 2 });
      const m = d.mutex('m');
      const g = m.lockSync();
      setTimeout(() => g.unlock(), 300).unref();
      m.lock().then((g2) => { console.log('acquired'); g2.unlock(); });
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.equal(out.trim(), 'acquired');
  });
});
