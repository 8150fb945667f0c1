/*
 * A worker's own sub-worker dies with it: Node stops a worker's sub-workers when it exits or is
 * terminated, and runs no JS in them. Nobody marked the sub-worker's slot dead (its watcher was
 * the dead parent), so it stayed ONLINE for good and every grace period waited for it forever.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { fixture, nextMessage, until, withTimeout } from '../helpers.js';

describe('nested workers', () => {
  for (const how of ['terminate', 'exit'] as const) {
    it(`a spawned worker's own spawned sub-worker dies with it (parent ${how === 'terminate' ? 'terminate()d' : 'calls process.exit()'}): its slot is marked dead, grace periods go on`, async () => {
      const d = Domain.create({ name: `nested-${how}`, bytes: 1 << 20, maxThreads: 4 });
      const w = d.spawn(fixture('review-nested-parent'));
      try {
        const { slot } = await nextMessage(w, (m) => m.event === 'ready');
        const child = nextMessage(w, (m) => m.event === 'child');
        w.postMessage({ cmd: 'sub' });
        const c = await child;
        assert.match(d.describeThread(c.slot), /alive/);
        if (how === 'terminate') {
          await w.terminate();
        } else {
          const exited = new Promise((r) => w.once('exit', r));
          w.postMessage({ cmd: 'exit' });
          await exited;
        }
        await until(() => /dead/.test(d.describeThread(slot)), 5000, 'parent slot dead');
        await until(() => !/alive/.test(d.describeThread(c.slot)), 5000, `the sub-worker's slot left alive (${d.describeThread(c.slot)})`);
        assert.match(d.describeThread(c.slot), /dead/);
        await withTimeout(d.rcu.synchronize(), 5000, 'synchronize after the nested workers died');
      } finally {
        await w.terminate();
        d.detach();
      }
    });
  }
});
