/*
 * SPEC §1: a worker that dies must not wedge the domain. A writer that dies while WAITING for an
 * RwSem is counted in the count word's waiting-writers field, which keeps every new reader out:
 * its death must take that registration back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { spawnReady, until } from '../helpers.js';

describe('RwSem: a writer that dies while waiting', () => {
  const d = Domain.create({ name: 'rwsem-dead-waiting-writer', maxThreads: 4 });
  for (const cmd of ['rwWrite', 'rwWriteAsync']) {
    it(`(${cmd === 'rwWrite' ? 'blocked in writeSync()' : 'suspended in write()'}) does not keep readers out`, async () => {
      const name = `x-${cmd}`;
      const rw = d.rwsem(name);
      const r = rw.readSync(); // the worker's writer must wait for this read
      const w = await spawnReady(d, 'locks-worker');
      w.postMessage({ id: 0, cmd, name, key: 'w' }); // no reply while it waits
      await until(() => rw.debugState().writersWaiting === 1, 3000, 'the worker waits to write');
      const exited = new Promise((res) => w.once('exit', res));
      await w.terminate();
      await exited;
      r.unlock();
      // No writer is alive and nobody holds the lock: readers get in again.
      await until(() => rw.debugState().writersWaiting === 0, 1000, 'the dead writer is no longer counted as waiting').catch(() => {});
      const state = rw.debugState();
      const g = rw.tryRead();
      g?.unlock();
      let err: string | null = null;
      try {
        rw.readSync({ timeoutMs: 300 }).unlock();
      } catch (e) {
        err = (e as { code?: string }).code ?? String(e);
      }
      assert.deepEqual(
        { tryRead: g !== null, readSync: err, writersWaiting: state.writersWaiting, readers: state.readers, writer: state.writer },
        { tryRead: true, readSync: null, writersWaiting: 0, readers: 0, writer: false },
      );
    });
  }
});
