/*
 * SPEC §6: what an async task holds is its own: the caller of an async function does not hold
 * what the function's task takes. Revocable.withAccess(fn) and Srcu.read(fn) take their access /
 * read section synchronously (a revoke or synchronize() issued right after the call must wait for
 * it) and run fn's synchronous part at once, so lockdep saw the hold pushed onto the CALLER's
 * context, and it stayed there after they returned their promise: a lock the caller took while fn
 * was still running recorded a false 'hold -> lock' order, and "revoke / synchronize under that
 * lock" then made a false 'circular' report. The hold belongs to fn's task (and the helper's own
 * continuation): the caller drops it when the helper returns, while what fn does, before and after
 * its awaits, is still seen inside it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Domain, lockdep } from '../../src/index.js';
import { sleep } from '../helpers.js';

/** A helper that runs fn inside a hold of class `name`, and the wait that waits for such holds. */
interface Flavour {
  what: string;
  make(d: Domain, name: string): { inside<T>(fn: () => T | Promise<T>): Promise<T | undefined>; waitAll(): Promise<void> };
}
const flavours: Flavour[] = [
  {
    what: 'Revocable.withAccess(fn) / revoke()',
    make: (d, name) => {
      const r = d.revocable(name);
      return { inside: (fn) => r.withAccess(fn), waitAll: () => r.revoke({ timeoutMs: 2000 }) };
    },
  },
  {
    what: 'Srcu.read(fn) / synchronize()',
    make: (d, name) => {
      const s = d.srcu(name);
      return { inside: (fn) => s.read(fn), waitAll: () => s.synchronize({ timeoutMs: 2000 }) };
    },
  },
];

describe('lockdep: a hold taken for fn by withAccess / Srcu.read belongs to fn\'s task, not the caller\'s', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  flavours.forEach((f, i) => {
    it(`${f.what}: a lock the caller takes while fn runs is not ordered after the hold (no false cycle)`, async () => {
      lockdep.enable({ action: 'collect' });
      const d = Domain.create({ name: `ld-hold-caller-${i}`, maxThreads: 2 });
      const h = f.make(d, `caller${i}_hold`);
      const m = d.mutex(`caller${i}_M`);
      const pending = h.inside(async () => {
        await sleep(30);
      });
      (await m.lock()).unlock(); // the caller: it holds nothing of h's
      await pending;
      const g = await m.lock();
      await h.waitAll(); // waiting under M: M -> hold, a real order
      g.unlock();
      assert.deepEqual(lockdep.reports().map((r) => `${r.kind}: ${r.classes.join(' ')}`), []);
      d.detach();
    });

    it(`${f.what}: a lock fn takes after an await is ordered after the hold (the real cycle is reported)`, async () => {
      lockdep.enable({ action: 'collect' });
      const d = Domain.create({ name: `ld-hold-fn-${i}`, maxThreads: 2 });
      const h = f.make(d, `fn${i}_hold`);
      const m = d.mutex(`fn${i}_M`);
      await h.inside(async () => {
        await sleep(5);
        (await m.lock()).unlock(); // hold -> M
      });
      const g = await m.lock();
      await h.waitAll(); // M -> hold: a cycle
      g.unlock();
      const c = lockdep.reports().filter((r) => r.kind === 'circular');
      assert.equal(c.length, 1, lockdep.reports().map((r) => r.kind).join());
      assert.deepEqual([...c[0]!.classes].sort(), [`fn${i}_M`, `fn${i}_hold`]);
      d.detach();
    });
  });

  it('Revocable.withAccess(fn): a lock fn takes in its synchronous part is ordered after the access too', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-hold-sync-part', maxThreads: 2 });
    const dev = d.revocable('sync_device');
    const m = d.mutex('sync_M');
    await dev.withAccess(() => m.lockSync().unlock()); // device -> M
    const g = m.lockSync();
    dev.revokeSync({ timeoutMs: 2000 }); // M -> device
    g.unlock();
    assert.equal(lockdep.reports().filter((r) => r.kind === 'circular').length, 1, lockdep.reports().map((r) => r.kind).join());
    d.detach();
  });
});
