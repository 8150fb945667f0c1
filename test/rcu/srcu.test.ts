import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain } from '../../src/index.js';
import { call, code, settlesWithin, sleep, spawnReady, withTimeout } from '../helpers.js';

describe('SRCU', () => {
  let d: Domain;
  let w: Worker;
  before(async () => {
    d = Domain.create({ name: 'srcu-test', maxThreads: 8 });
    w = await spawnReady(d, 'rcu-worker');
  });
  after(async () => {
    await w.terminate();
  });

  it('a reader suspended at an await holds off synchronize() until it leaves', async () => {
    const s = d.srcu('s1');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let left = false;
    const reader = s.read(async () => {
      await gate; // suspended inside the section
      left = true;
    });
    const sync = s.synchronize();
    assert.equal(await settlesWithin(sync, 200), false, 'synchronize ended while a reader was inside');
    release();
    await withTimeout(sync, 3000, 'synchronize');
    assert.equal(left, true);
    await reader;
  });

  it('a reader that starts after synchronize() began is not waited for', async () => {
    const s = d.srcu('s2');
    const sync = s.synchronize(); // flips the index before returning
    const idx = s.readLock(); // a new reader, on the new index, stays inside throughout
    await withTimeout(sync, 3000, 'synchronize with a later reader inside');
    const sync2 = s.synchronize(); // but the next grace period must wait for it
    assert.equal(await settlesWithin(sync2, 150), false);
    s.readUnlock(idx);
    await withTimeout(sync2, 3000, 'synchronize 2');
  });

  it('a reader in another worker holds off synchronize(); unlocking there ends it', async () => {
    const s = d.srcu('s3');
    await call(w, 'srcuLock', { name: 's3' });
    const sync = s.synchronize();
    assert.equal(await settlesWithin(sync, 200), false);
    await call(w, 'srcuUnlock', { name: 's3' });
    await withTimeout(sync, 3000, 'synchronize');
  });

  it('timeout and abort leave the Srcu usable', async () => {
    const s = d.srcu('s4');
    const idx = s.readLock();
    await assert.rejects(s.synchronize({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(s.synchronize({ signal: ac.signal }), code('ERR_ABORTED'));
    s.readUnlock(idx);
    await withTimeout(s.synchronize(), 3000, 'synchronize after timeout');
  });

  it('synchronizeSync while this thread holds a read section throws ERR_DEADLOCK; without one it works', () => {
    const s = d.srcu('s5');
    const idx = s.readLock();
    assert.throws(() => s.synchronizeSync(), code('ERR_DEADLOCK'));
    s.readUnlock(idx);
    s.synchronizeSync({ timeoutMs: 3000 });
  });

  it('call() runs after the readers of the time have left; barrier() waits for it', async () => {
    const s = d.srcu('s6');
    const idx = s.readLock();
    let ran = false;
    s.call(() => (ran = true));
    await sleep(100);
    assert.equal(ran, false);
    s.readUnlock(idx);
    await withTimeout(s.barrier(), 3000, 'barrier');
    assert.equal(ran, true);
  });

  it('a worker terminated inside an SRCU read section does not hold up synchronize()', async () => {
    const s = d.srcu('s7');
    const w2 = await spawnReady(d, 'rcu-worker');
    await call(w2, 'srcuLock', { name: 's7' });
    const sync = s.synchronize({ timeoutMs: 5000 });
    assert.equal(await settlesWithin(sync, 150), false);
    await w2.terminate();
    await withTimeout(sync, 5000, 'synchronize after terminate');
  });

  it('misuse: readUnlock without readLock, bad index', () => {
    const s = d.srcu('s8');
    assert.throws(() => s.readUnlock(0), code('ERR_RCU_MISUSE'));
    assert.throws(() => s.readUnlock(7), code('ERR_INVALID_ARG'));
  });
});
