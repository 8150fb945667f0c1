/*
 * SPEC §6: what an async task holds is its own: the caller of an async function does not hold
 * what the function's task takes. Revocable.withAccess(fn) takes its access synchronously (a
 * revoke issued right after the call must wait for it) and runs fn's synchronous part at once,
 * so lockdep saw the access pushed onto the CALLER's context, and it stayed there after
 * withAccess returned its promise: a lock the caller took while fn was still running recorded a
 * false 'access -> lock' order, and "revoke under that lock" then made a false 'circular' report.
 * The access belongs to fn's task (and withAccess's own continuation): the caller drops it when
 * withAccess returns, while what fn does, before and after its awaits, is still seen inside it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Domain, lockdep } from '../../src/index.js';
import { sleep } from '../helpers.js';

describe('lockdep: Revocable.withAccess holds its access in fn\'s task, not the caller\'s', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it('a lock the caller takes while fn runs is not ordered after the access (no false cycle)', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-with-access', maxThreads: 2 });
    const dev = d.revocable('wa_device');
    const m = d.mutex('wa_M');
    const pending = dev.withAccess(async () => {
      await sleep(30);
    });
    const g = await m.lock(); // the caller: it holds no access
    g.unlock();
    await pending;
    const g2 = await m.lock();
    await dev.revoke({ timeoutMs: 2000 }); // revoke under M: M -> device, a real order
    g2.unlock();
    assert.deepEqual(lockdep.reports().map((r) => `${r.kind}: ${r.classes.join(' ')}`), []);
    d.detach();
  });

  it('a lock fn takes after an await still is ordered after the access (the real cycle is reported)', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-with-access-2', maxThreads: 2 });
    const dev = d.revocable('wa2_device');
    const m = d.mutex('wa2_M');
    await dev.withAccess(async () => {
      await sleep(5);
      (await m.lock()).unlock(); // device -> M
    });
    const g = await m.lock();
    await dev.revoke({ timeoutMs: 2000 }); // M -> device: a cycle
    g.unlock();
    const c = lockdep.reports().filter((r) => r.kind === 'circular');
    assert.equal(c.length, 1, lockdep.reports().map((r) => r.kind).join());
    assert.deepEqual([...c[0]!.classes].sort(), ['wa2_M', 'wa2_device']);
    d.detach();
  });

  it("a lock fn takes in its synchronous part is ordered after the access too", async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-with-access-3', maxThreads: 2 });
    const dev = d.revocable('wa3_device');
    const m = d.mutex('wa3_M');
    await dev.withAccess(() => m.lockSync().unlock()); // device -> M
    const g = m.lockSync();
    dev.revokeSync({ timeoutMs: 2000 }); // M -> device
    g.unlock();
    assert.equal(lockdep.reports().filter((r) => r.kind === 'circular').length, 1, lockdep.reports().map((r) => r.kind).join());
    d.detach();
  });
});

describe("lockdep: Srcu.read(fn) is a section of fn's task, not the caller's", () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it('a lock the caller takes while fn runs is not ordered inside the section (no false cycle)', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-srcu-read', maxThreads: 2 });
    const s = d.srcu('sr_srcu');
    const m = d.mutex('sr_M');
    const pending = s.read(async () => {
      await sleep(30);
    });
    const g = await m.lock(); // the caller: it is not inside the section
    g.unlock();
    await pending;
    const g2 = await m.lock();
    await s.synchronize({ timeoutMs: 2000 }); // synchronize under M: M -> srcu, a real order
    g2.unlock();
    assert.deepEqual(lockdep.reports().map((r) => `${r.kind}: ${r.classes.join(' ')}`), []);
    d.detach();
  });

  it('a lock fn takes after an await is ordered inside the section (the real cycle is reported)', async () => {
    lockdep.enable({ action: 'collect' });
    const d = Domain.create({ name: 'ld-srcu-read-2', maxThreads: 2 });
    const s = d.srcu('sr2_srcu');
    const m = d.mutex('sr2_M');
    await s.read(async () => {
      await sleep(5);
      (await m.lock()).unlock(); // srcu -> M
    });
    const g = await m.lock();
    await s.synchronize({ timeoutMs: 2000 }); // M -> srcu: a cycle
    g.unlock();
    assert.equal(lockdep.reports().filter((r) => r.kind === 'circular').length, 1, lockdep.reports().map((r) => r.kind).join());
    d.detach();
  });
});
