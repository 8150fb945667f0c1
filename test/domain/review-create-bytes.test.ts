/*
 * Domain.create: any `bytes` is either refused with ERR_INVALID_ARG or gives a buffer that holds
 * every region. A size that is not a multiple of 4 used to throw a RangeError from Int32Array, and
 * one that is not a multiple of 64 put the end of the last thread's per-thread area past the end
 * of the buffer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { computeGeometry, H_PERCPU_TOP } from '../../src/domain/layout.js';
import { code } from '../helpers.js';

describe('Domain.create bytes', () => {
  it('bytes that is not a multiple of 4 is ERR_INVALID_ARG, not a RangeError', () => {
    assert.throws(() => Domain.create({ bytes: 65537, maxThreads: 2 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Domain.create({ bytes: 100001, maxThreads: 2 }), code('ERR_INVALID_ARG'));
    const d = Domain.create({ name: 'odd-size', bytes: 100004, maxThreads: 2 }); // not a multiple of 64: fine
    d.mutex('m').lockSync().unlock();
    d.detach();
  });

  it('every per-thread area lies inside the buffer, whatever bytes is', () => {
    const bad: string[] = [];
    for (let bytes = 65536; bytes < 65536 + 256; bytes += 4) {
      for (const t of [1, 2, 3, 7, 64]) {
        const g = computeGeometry(bytes, t);
        if (g.percpuStride < 256) continue; // Domain.create refuses it
        if (g.percpuBase + g.percpuStride * t > bytes || g.percpuBase < g.heapBase || g.percpuBase % 64 !== 0) bad.push(`${bytes}/${t}`);
      }
    }
    assert.deepEqual(bad, []);
    // What that broke: the last thread's copy of the last percpu variable lay past the end of the
    // buffer, so a PercpuRwSem writer summing the readers of every thread threw a RangeError.
    const d = Domain.create({ name: 'odd-size-pcpu', bytes: (1 << 20) + 4, maxThreads: 64 });
    let n = 0;
    while (Atomics.load(d.core.i32, H_PERCPU_TOP) + 8 < d.core.g.percpuStride) d.percpuRef(`fill${n++}`);
    const sem = d.percpuRwsem('last');
    sem.writeSync({ timeoutMs: 1000 }).unlock();
    d.detach();
  });
});
