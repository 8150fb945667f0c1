/* The manual annotations and assertions check their arguments at the call, whether or not lockdep is enabled. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { lockdep } from '../../src/lockdep/index.js';
import { code } from '../helpers.js';

describe('lockdep.acquire / release / sync / assertHeld / assertNotHeld argument checks', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  for (const enabled of [false, true]) {
    it(`bad classes and options are ERR_INVALID_ARG (lockdep ${enabled ? 'on' : 'off'}), and nothing is held after them`, () => {
      if (enabled) lockdep.enable({ action: 'collect', stacks: false });
      const A = lockdep.lockClass('args.A');
      for (const bad of [{}, null, 'args.A', { name: 'x' }, { id: 3 }]) {
        assert.throws(() => lockdep.acquire(bad as never), code('ERR_INVALID_ARG'), `acquire(${JSON.stringify(bad)})`);
        assert.throws(() => lockdep.release(bad as never), code('ERR_INVALID_ARG'), `release(${JSON.stringify(bad)})`);
        assert.throws(() => lockdep.sync(bad as never), code('ERR_INVALID_ARG'), `sync(${JSON.stringify(bad)})`);
      }
      for (const o of [{ mode: 'zzz' }, { wait: 'later' }, { try: 1 }, 7]) {
        assert.throws(() => lockdep.acquire(A, o as never), code('ERR_INVALID_ARG'), JSON.stringify(o));
      }
      assert.throws(() => lockdep.assertHeld({} as never), code('ERR_INVALID_ARG'));
      assert.throws(() => lockdep.assertNotHeld(null as never), code('ERR_INVALID_ARG'));
      assert.throws(() => lockdep.assertHeld(A, 'recursive-read' as never), code('ERR_INVALID_ARG'));
      if (enabled) lockdep.assertNotHeld(A);
      lockdep.acquire(A, { mode: 'read' }); // good input still works
      if (enabled) lockdep.assertHeld(A, 'read');
      lockdep.release(A);
      assert.deepEqual(lockdep.reports(), []);
    });
  }
});
