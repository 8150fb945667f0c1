/*
 * The creator's release watcher (percpu-ref.ts header, "onRelease"): while a ref is dead and not
 * yet released, it holds its creating thread's event loop open, so onRelease still runs there
 * exactly once even if that thread has nothing else to do. Killed on another thread, by kill() or
 * by PercpuRef.killAll(): the creator must be kept alive from the kill to the release either way.
 *
 * The worker (fixture ref-release-watch-worker) creates the ref and, told to let go, leaves its
 * event loop with nothing but quiesce's own. A spinning worker (ONLINE, no quiescent state) holds
 * the kill's grace period up, so the fold (and the release) come only once this thread stops it:
 * the creator must stay alive across that window (it is given a second to exit; with
 * a correct watcher it never does, so the outcome does not depend on the machine's speed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, PercpuRef } from '../../src/index.js';
import { call, fixture, nextMessage, settlesWithin, spawnReady, withTimeout } from '../helpers.js';

describe('PercpuRef onRelease on a creator with nothing else to do', () => {
  for (const how of ['kill', 'killAndDrain', 'killAll'] as const) {
    it(`${how}() on another thread: the creator stays alive until the release and runs onRelease once`, async () => {
      const d = Domain.create({ name: `ref-watch-${how}`, maxThreads: 4 });
      const f = new Int32Array(new SharedArrayBuffer(16)); // [0] onRelease calls, [1] spinner stop flag
      const creator = d.spawn(fixture('ref-release-watch-worker'), { workerData: { name: 'r', sab: f.buffer } });
      const exited = new Promise<void>((r) => creator.once('exit', () => r()));
      const creatorReady = nextMessage(creator, (x) => x.event === 'ready');
      let spinner: Worker | undefined;
      try {
        spinner = await spawnReady(d, 'ref-worker');
        await creatorReady;
        const ref = d.percpuRef('r');
        await call(spinner, 'spinFlag', { sab: f.buffer, idx: 2, ms: 8000, until: 1 }); // grace periods wait from here
        let done: Promise<void>;
        if (how === 'kill') {
          ref.kill();
          done = ref.drain({ timeoutMs: 8000 });
        } else if (how === 'killAndDrain') done = ref.killAndDrain({ timeoutMs: 8000 });
        else done = PercpuRef.killAll([ref], { timeoutMs: 8000 }); // marks now, folds after the grace period
        await call(creator, 'letGo');
        const exitedEarly = await settlesWithin(exited, 1000);
        Atomics.store(f, 1, 1); // stop the spinner: the grace period ends, the fold releases the ref
        await withTimeout(done, 9000, how);
        await withTimeout(exited, 5000, 'creator exit after the release');
        assert.equal(exitedEarly, false, 'the creator exited while the ref was dead and not yet released');
        assert.equal(Atomics.load(f, 0), 1, 'onRelease calls on the creator');
        assert.equal(ref.inspect().releases, 1);
      } finally {
        Atomics.store(f, 1, 1);
        await creator.terminate();
        await spinner?.terminate();
        d.detach();
      }
    });
  }
});
