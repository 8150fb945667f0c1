/* rcu.read(fn) / srcu.read(fn) with something that is not a function: ERR_INVALID_ARG (not a TypeError from inside the section). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { code, withTimeout } from '../helpers.js';

describe('read(fn) argument checks', () => {
  it('rcu.read(non-function) throws ERR_INVALID_ARG before entering a section', () => {
    const d = Domain.create({ name: 'rcu-read-args', maxThreads: 2 });
    try {
      for (const bad of [5, null, undefined, 'fn', {}]) assert.throws(() => d.rcu.read(bad as never), code('ERR_INVALID_ARG'), String(bad));
      assert.equal(d.rcu.read(() => 7), 7); // and the reader is still usable
    } finally {
      d.detach();
    }
  });

  it('srcu.read(non-function) rejects ERR_INVALID_ARG and leaves no reader behind', async () => {
    const d = Domain.create({ name: 'srcu-read-args', maxThreads: 2 });
    try {
      const s = d.srcu('args');
      for (const bad of [5, null, 'fn']) await assert.rejects(s.read(bad as never), code('ERR_INVALID_ARG'), String(bad));
      await withTimeout(s.synchronize({ timeoutMs: 2000 }), 4000, 'srcu grace period with no reader');
    } finally {
      d.detach();
    }
  });
});
