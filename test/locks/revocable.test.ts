import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Domain, QuiesceError, type Access, type AccessReport } from '../../src/index.js';
import { call, code, fixture, nextMessage, settlesWithin, sleep, withTimeout } from '../helpers.js';

describe('Revocable', () => {
  let d: Domain;
  let w1: Worker;
  let w2: Worker;
  let w1slot: number;
  let n = 0;
  const fresh = (): string => `rev-${++n}`;

  before(async () => {
    d = Domain.create({ name: 'revocable-test', maxThreads: 8 });
    w1 = d.spawn(fixture('revocable-worker'));
    w2 = d.spawn(fixture('revocable-worker'));
    const [r1] = await Promise.all([nextMessage(w1, (m) => m.event === 'ready'), nextMessage(w2, (m) => m.event === 'ready')]);
    w1slot = r1.slot;
  });
  after(async () => {
    await w1.terminate();
    await w2.terminate();
  });

  it('tryAccess / withAccess work until revoke, and fail from the moment it begins', async () => {
    const r = d.revocable(fresh());
    assert.equal(r.isRevoked, false);
    const a = r.tryAccess()!;
    assert.ok(a);
    a.release();
    assert.equal(await r.withAccess(() => 42), 42);
    await withTimeout(r.revoke(), 2000, 'revoke with no access');
    assert.equal(r.isRevoked, true);
    assert.equal(r.tryAccess(), null);
    let called = false;
    assert.equal(await r.withAccess(() => (called = true)), undefined);
    assert.equal(called, false);
    r.revokeSync(); // idempotent
  });

  it('revoke waits for an access handed off to another worker; tryAccess is null at once here and on the other worker', async () => {
    const name = fresh();
    const r = d.revocable(name);
    const a = r.tryAccess()!;
    const { token } = a.handoff();
    assert.throws(() => a.release(), code('ERR_NOT_OWNER'));
    assert.equal((await call(w1, 'adopt', { token, key: 'h' })).ok, true);
    assert.throws(() => d.adopt(token), code('ERR_NOT_OWNER'), 'a token is adopted once');
    const p = r.revoke({ timeoutMs: 10000 });
    assert.equal(r.tryAccess(), null, 'same thread: null immediately after revoke began');
    const other = await call(w2, 'tryAccess', { name, key: 'x' });
    assert.deepEqual([other.ok, other.isRevoked], [false, true], 'other worker: null');
    assert.equal((await call(w1, 'tryAccess', { name, key: 'y' })).ok, false, 'the holder itself gets no new access');
    assert.equal(await settlesWithin(p, 250), false, 'revoke must wait for the handed-off access');
    assert.deepEqual(r.holders().holders.map((h) => [h.thread, h.accesses]), [[w1slot, 1]]);
    await call(w1, 'releaseLater', { key: 'h', ms: 50 });
    await withTimeout(p, 5000, 'revoke after the adopter released');
    assert.equal(r.holders().outstanding, 0);
  });

  it('revoke waits for an async access on this thread (withAccess spanning awaits)', async () => {
    const r = d.revocable(fresh());
    let inside = false;
    let done = false;
    const wa = r.withAccess(async () => {
      inside = true;
      await sleep(150);
      done = true;
    });
    assert.equal(inside, true);
    await r.revoke({ timeoutMs: 5000 });
    assert.equal(done, true, 'revoke resolved before the access ended');
    await wa;
  });

  it('a timed-out revoke names the threads still holding accesses and stays revoked; abort too', async () => {
    const name = fresh();
    const r = d.revocable(name);
    assert.equal((await call(w1, 'tryAccess', { name, key: 'k' })).ok, true);
    const held = r.tryAccess()!.handoff(); // one in transit, never adopted yet
    const e = (() => {
      try {
        r.revokeSync({ timeoutMs: 100 });
      } catch (x) {
        return x;
      }
      return null;
    })();
    assert.ok(code('ERR_TIMEOUT')(e), String(e));
    assert.match((e as Error).message, new RegExp(`thread ${w1slot}\\b.*holds 1`));
    assert.match((e as Error).message, /1 handed off and not adopted yet/);
    const rep = (e as QuiesceError).details as AccessReport;
    assert.equal(rep.outstanding, 2);
    assert.equal(rep.inTransit, 1);
    assert.equal(r.isRevoked, true, 'stays revoked after a timeout');
    assert.equal(r.tryAccess(), null);
    await assert.rejects(r.revoke({ timeoutMs: 100 }), code('ERR_TIMEOUT'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(r.revoke({ signal: ac.signal }), code('ERR_ABORTED'));
    assert.throws(() => r.revokeSync({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
    // release everything: a revoke completes at once
    await call(w1, 'release', { key: 'k' });
    (d.adopt(held.token) as Access).release();
    await withTimeout(r.revoke({ timeoutMs: 1000 }), 2000, 'revoke after release');
    r.revokeSync({ timeoutMs: 100 });
  });

  it('revoke reports accesses held by a dead worker (and still honours its timeout)', async () => {
    const name = fresh();
    const r = d.revocable(name);
    const w = d.spawn(fixture('revocable-worker'));
    const { slot } = await nextMessage(w, (m) => m.event === 'ready');
    assert.equal((await call(w, 'tryAccess', { name, key: 'z' })).ok, true);
    await w.terminate();
    const e = await r.revoke({ timeoutMs: 150 }).then(
      () => null,
      (x: unknown) => x,
    );
    assert.ok(code('ERR_TIMEOUT')(e), String(e));
    const rep = (e as QuiesceError).details as AccessReport;
    assert.deepEqual(rep.holders.map((h) => [h.thread, h.alive, h.accesses]), [[slot, false, 1]]);
    assert.match((e as Error).message, /dead/);
  });

  it('double release, double adopt, revokeSync under an own access, and option mismatches are errors', () => {
    const name = fresh();
    const r = d.revocable(name);
    const a = r.tryAccess()!;
    assert.throws(() => r.revokeSync({ timeoutMs: 1000 }), code('ERR_DEADLOCK'));
    assert.equal(r.isRevoked, false, 'a refused revokeSync does not fence');
    a.release();
    assert.throws(() => a.release(), code('ERR_DOUBLE_UNLOCK'));
    a[Symbol.dispose](); // no-op once released
    {
      using b = r.tryAccess()!;
      void b;
    }
    const t = r.tryAccess()!.handoff().token;
    const adopted = r.adoptHandoff(t);
    assert.throws(() => r.adoptHandoff(t), code('ERR_NOT_OWNER'));
    adopted.release();
    r.revokeSync({ timeoutMs: 1000 }); // everything was released (the disposed one too)
    d.revocable('rev-opts', { class: 'A' });
    assert.throws(() => d.revocable('rev-opts', { class: 'B' }), code('ERR_KIND_MISMATCH'));
    assert.throws(() => d.percpuRwsem('rev-opts', { class: 'A' }), code('ERR_KIND_MISMATCH'));
  });
});
