/*
 * SPEC §1: a worker terminated while holding read sides must not wedge the domain. An async read()
 * that had to wait counts itself in the count word inside its wait program, but used to record the
 * read in its thread's READS mirror (what the death handler releases) only in read()'s
 * continuation, several microtasks later: a worker terminated in between left a reader counted
 * for good, and every later writer timed out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { nextMessage, spawnReady, until } from '../helpers.js';

describe('RwSem: a worker terminated just after its waiting async read() got in', () => {
  it('has its read side released by the death handler', async () => {
    const d = Domain.create({ name: 'rwsem-async-read-terminated', maxThreads: 4 });
    const rw = d.rwsem('x');
    const wg = rw.writeSync(); // the worker's read() must wait
    const w = await spawnReady(d, 'rwsem-read-gap-worker');
    const exited = new Promise((res) => w.once('exit', res));
    try {
      const waiting = nextMessage(w, (m) => m.event === 'waiting');
      w.postMessage({ cmd: 'read', name: 'x' });
      await waiting;
      const gap = nextMessage(w, (m) => m.event === 'gap' || m.event === 'read' || m.event === 'failed');
      wg.unlock();
      assert.equal((await gap).event, 'gap', 'the worker reached the end of its wait');
    } finally {
      await w.terminate();
    }
    await exited;
    await until(() => rw.debugState().readers === 0, 2000, 'the dead reader is released').catch(() => {});
    let err: string | null = null;
    try {
      rw.writeSync({ timeoutMs: 500 }).unlock();
    } catch (e) {
      err = (e as { code?: string }).code ?? String(e);
    }
    assert.deepEqual({ readers: rw.debugState().readers, writeSync: err }, { readers: 0, writeSync: null });
  });
});
