/*
 * ERR_OUT_OF_SHARED_MEMORY leaves the domain as it was: a named object that does not fit moves no
 * allocator top. It used to leave the string top past the end (every later name, however short,
 * then failed too) and the header and percpu memory it had already taken leaked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { H_HEAP_TOP, H_PERCPU_TOP, H_STRINGS_TOP } from '../../src/domain/layout.js';
import { code } from '../helpers.js';

describe('out of shared memory', () => {
  it('a named object that does not fit leaves the domain as it was', () => {
    const d = Domain.create({ name: 'oom-unchanged', bytes: 1 << 20, maxThreads: 2 });
    const i32 = d.core.i32;
    const tops = (): number[] => [H_HEAP_TOP, H_PERCPU_TOP, H_STRINGS_TOP].map((w) => Atomics.load(i32, w));
    const before = tops();
    // a name longer than the whole string heap: the header and percpu memory it needs would fit
    assert.throws(() => d.percpuRef('n'.repeat(d.core.g.stringsEnd - d.core.g.stringsBase + 1)), code('ERR_OUT_OF_SHARED_MEMORY'));
    assert.deepEqual(tops(), before, 'a failed allocation moved an allocator top');
    // and a short name still fits afterwards
    d.percpuRef('short').get();
    d.detach();
  });
});
