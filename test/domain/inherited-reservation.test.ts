/*
 * worker_threads environment data is inherited: a plain sub-worker of a spawned worker sees its
 * parent's spawn reservation. Its no-argument Domain.attach() must throw ERR_NOT_ATTACHED, and it
 * must leave the parent's slot alone: when the sub-worker exits, the parent's worker watcher must
 * not find the sub-worker's threadId in the parent's (live) slot and mark it dead, after which
 * grace periods would stop waiting for the parent's readers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { fixture, nextMessage } from '../helpers.js';

describe('spawn reservation inherited by a sub-worker', () => {
  it('a sub-worker of a spawned worker cannot attach without a handle, and its exit leaves the live parent alive', async () => {
    const d = Domain.create({ name: 'inherit', bytes: 1 << 20, maxThreads: 8 });
    const w = d.spawn(fixture('subworker-parent'));
    try {
      const { slot } = await nextMessage(w, (m) => m.event === 'ready');
      const child = nextMessage(w, (m) => m.event === 'child');
      const exited = nextMessage(w, (m) => m.event === 'childExited');
      w.postMessage({ cmd: 'sub' });
      const c = await child;
      await exited;
      assert.deepEqual({ attached: c.attached, code: c.code }, { attached: false, code: 'ERR_NOT_ATTACHED' }, `sub-worker: ${JSON.stringify(c)}`);
      assert.match(d.describeThread(slot), /alive/, `the live parent's slot: ${d.describeThread(slot)}`);

      // and grace periods still wait for the parent's readers
      const inside = nextMessage(w, (m) => m.event === 'inside');
      const readDone = nextMessage(w, (m) => m.event === 'readDone');
      const left = new Int32Array(new SharedArrayBuffer(4));
      w.postMessage({ cmd: 'readSpin', ms: 300, sab: left.buffer });
      await inside;
      await d.rcu.synchronize({ timeoutMs: 10000 });
      assert.equal(Atomics.load(left, 0), 1, 'synchronize() returned while the parent was still inside its read section');
      await readDone;
    } finally {
      await w.terminate();
    }
  });
});
