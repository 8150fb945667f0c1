/*
 * Domain.attach: a corrupt handle is ERR_BAD_HANDLE, whatever is wrong with its buffer (a length
 * that is not a multiple of 4 used to escape as a RangeError from Int32Array).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain } from '../../src/index.js';
import { LAYOUT_VERSION } from '../../src/domain/layout.js';
import { code } from '../helpers.js';

describe('Domain.attach corrupt handle', () => {
  it('a handle whose buffer length is not a multiple of 4 is ERR_BAD_HANDLE', () => {
    for (const n of [8191, 13, 65538]) {
      assert.throws(() => Domain.attach({ kind: 'quiesce.domain', version: LAYOUT_VERSION, sab: new SharedArrayBuffer(n) } as never), code('ERR_BAD_HANDLE'), `${n} bytes`);
    }
  });
});
