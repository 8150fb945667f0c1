/*
 * A handoff() that cannot claim a handoff-table word (ERR_OUT_OF_SHARED_MEMORY) must leave the
 * guard held: the read side stays releasable by it (review: RwSem marked the guard 'moved' first).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Domain, type Access, type HandoffToken, type PercpuReadGuard, type ReadGuard } from '../../src/index.js';
import { code } from '../helpers.js';

type Held = ReadGuard | PercpuReadGuard | Access;

describe('handoff() with the handoff table full', () => {
  for (const kind of ['rwsem', 'percpuRwsem', 'revocable'] as const) {
    it(`${kind}: the failed handoff leaves the guard held and releasable`, () => {
      const d = Domain.create({ name: `handoff-full-${kind}`, maxThreads: 2 });
      const o = kind === 'rwsem' ? d.rwsem('x') : kind === 'percpuRwsem' ? d.percpuRwsem('x') : d.revocable('x');
      const take = (): Held => (kind === 'revocable' ? d.revocable('x').tryAccess()! : (o as { readSync(): ReadGuard | PercpuReadGuard }).readSync());
      const rel = (g: Held): void => ('release' in g ? g.release() : g.unlock());
      const tokens: HandoffToken[] = [];
      let failed: Held | null = null;
      while (failed === null) {
        // fill the domain's handoff table with read sides in transit
        const g = take();
        try {
          tokens.push(g.handoff().token);
        } catch (e) {
          assert.ok(code('ERR_OUT_OF_SHARED_MEMORY')(e), String(e));
          failed = g;
        }
      }
      assert.ok(tokens.length > 0);
      let err: unknown = null;
      try {
        rel(failed);
      } catch (e) {
        err = e;
      }
      for (const t of tokens) rel(d.adopt(t) as Held);
      const left =
        kind === 'rwsem'
          ? d.rwsem('x').debugState().readers
          : kind === 'revocable'
            ? d.revocable('x').holders().outstanding
            : d.percpuRwsem('x').readers().reduce((s, r) => s + r.count, 0);
      assert.deepEqual({ unlockError: err === null ? null : String(err), readSidesLeft: left }, { unlockError: null, readSidesLeft: 0 });
    });
  }
});
