/*
 * The handoff table's allocation hint (H_HANDOFF_HINT) is an Int32 that every handoff() bumps with
 * Atomics.add: after 2^31 handoffs in a domain's lifetime it wraps to negative. The slot derived
 * from it must still be an index of the table: a negative one made handoff() write its seal into
 * the word before the table (the named-object registry) and return a token adopt() rejects.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain, type Access, type PercpuReadGuard, type ReadGuard } from '../../src/index.js';
import { H_HANDOFF_HINT } from '../../src/domain/layout.js';

type Held = ReadGuard | PercpuReadGuard | Access;

describe('handoff() after the allocation hint wrapped around', () => {
  for (const kind of ['rwsem', 'percpuRwsem', 'revocable'] as const) {
    it(`${kind}: tokens stay inside the table and adopt() takes them`, () => {
      const d = Domain.create({ name: `handoff-wrap-${kind}`, maxThreads: 2 });
      const core = (d as unknown as { core: { i32: Int32Array; g: { handoffBase: number; handoffCap: number } } }).core;
      const take = (): Held => (kind === 'revocable' ? d.revocable('x').tryAccess()! : kind === 'rwsem' ? d.rwsem('x').readSync() : d.percpuRwsem('x').readSync());
      const rel = (g: Held): void => ('release' in g ? g.release() : g.unlock());
      const { i32, g } = core;
      // Snapshot what lies before and after the table: a handoff must not write there.
      const before = Array.from(i32.subarray(g.handoffBase - g.handoffCap, g.handoffBase));
      Atomics.store(i32, H_HANDOFF_HINT, 0x7ffffffe); // as after ~2^31 handoffs
      const slots: number[] = [];
      const errors: string[] = [];
      for (let n = 0; n < 5; n++) {
        const t = take().handoff().token;
        slots.push(t.slot);
        try {
          rel(d.adopt(t) as Held);
        } catch (e) {
          errors.push(String(e));
        }
      }
      const after = Array.from(i32.subarray(g.handoffBase - g.handoffCap, g.handoffBase));
      assert.deepEqual(
        { inTable: slots.every((s) => s >= 0 && s < g.handoffCap), errors, registryUntouched: before.every((v, i) => v === after[i]) },
        { inTable: true, errors: [], registryUntouched: true },
        `slots ${slots.join(', ')}`,
      );
    });
  }
});
