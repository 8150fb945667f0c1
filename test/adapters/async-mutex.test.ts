import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Mutex, Semaphore, E_ALREADY_LOCKED, E_CANCELED, tryAcquire, withTimeout } from 'async-mutex';
import { instrument, lockdep, QuiesceError } from '../../src/index.js';

describe('instrument() for async-mutex', () => {
  afterEach(() => {
    lockdep.disable();
    lockdep.reset();
  });

  it('an A->B / B->A inversion between two async tasks using the real async-mutex is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const a = instrument(new Mutex(), 'am.A');
    const b = instrument(new Mutex(), 'am.B');
    await a.runExclusive(() => b.runExclusive(() => 1));
    assert.equal(lockdep.reports().length, 0);
    await b.runExclusive(async () => {
      const release = await a.acquire();
      release();
    });
    const r = lockdep.reports().filter((x) => x.kind === 'circular');
    assert.equal(r.length, 1, JSON.stringify(lockdep.reports(), null, 1));
    assert.deepEqual([...r[0]!.classes].sort(), ['am.A', 'am.B']);
    assert.match(r[0]!.text, /possible circular locking dependency/);
  });

  it("action 'throw' rejects the acquisition that closes the cycle, before it waits; the mutex stays free", async () => {
    lockdep.enable({ action: 'throw' });
    const a = instrument(new Mutex(), 'am2.A');
    const b = instrument(new Mutex(), 'am2.B');
    await a.runExclusive(() => b.runExclusive(() => 1));
    await b.runExclusive(async () => {
      await assert.rejects(a.acquire(), (e: unknown) => e instanceof QuiesceError && e.code === 'ERR_LOCKDEP');
      assert.equal(a.isLocked(), false);
    });
  });

  it('consistent order stays silent; held state follows the releaser and release()', async () => {
    lockdep.enable({ action: 'collect' });
    const a = instrument(new Mutex(), 'am3.A');
    const b = instrument(new Mutex(), 'am3.B');
    for (let i = 0; i < 3; i++) await a.runExclusive(() => b.runExclusive(() => i));
    const rel = await a.acquire();
    lockdep.assertHeld(a);
    rel();
    lockdep.assertNotHeld(a);
    await a.acquire();
    a.release(); // release without the releaser
    lockdep.assertNotHeld(a);
    assert.equal(lockdep.reports().length, 0, JSON.stringify(lockdep.reports()));
  });

  it('a cancelled acquire is abandoned (nothing left held); Semaphores work too', async () => {
    lockdep.enable({ action: 'collect' });
    const m = instrument(new Mutex(), 'am4.M');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const holder = m.runExclusive(async () => {
      holding();
      await gate;
    });
    await held;
    const pending = m.acquire(); // this task does not hold m: the holder task does
    m.cancel();
    await assert.rejects(pending, (e: unknown) => e === E_CANCELED);
    lockdep.assertNotHeld(m);
    open();
    await holder;

    const s = instrument(new Semaphore(2), 'am4.S');
    const [v, r1] = await s.acquire();
    assert.equal(v, 2);
    r1();
    assert.equal(await s.runExclusive((value) => value), 2);
    lockdep.assertNotHeld(s);
    assert.equal(lockdep.reports().length, 0, JSON.stringify(lockdep.reports()));
  });

  it('re-acquiring an instrumented mutex in the task that holds it is reported as recursive locking', async () => {
    lockdep.enable({ action: 'collect' });
    const m = instrument(new Mutex(), 'am5.M');
    const rel = await m.acquire();
    const again = m.acquire(); // would wait forever
    m.cancel();
    await assert.rejects(again, (e: unknown) => e === E_CANCELED);
    rel();
    assert.deepEqual(lockdep.reports().map((r) => r.kind), ['recursive']);
  });

  it('withTimeout() and tryAcquire() wrappers can be instrumented (their getValue() throws on a wrapped Mutex)', async () => {
    lockdep.enable({ action: 'collect' });
    const wm = instrument(withTimeout(new Mutex(), 5000), 'am6.WM');
    const rel = await wm.acquire();
    assert.equal(typeof rel, 'function');
    lockdep.assertHeld(wm);
    rel();
    lockdep.assertNotHeld(wm);
    assert.equal(await wm.runExclusive((v?: unknown) => v ?? 'mutex'), 'mutex');

    const tm = instrument(tryAcquire(new Mutex()), 'am6.TM');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const holder = tm.runExclusive(async () => {
      holding();
      await gate;
    });
    await held; // another task holds tm: this one's tryAcquire fails, and is abandoned
    await assert.rejects(tm.runExclusive(() => 1), (e: unknown) => e === E_ALREADY_LOCKED);
    lockdep.assertNotHeld(tm);
    open();
    await holder;
    assert.equal(await tm.runExclusive(() => 2), 2);

    const ws = instrument(withTimeout(new Semaphore(2), 5000), 'am6.WS');
    const [v, srel] = await ws.acquire();
    assert.equal(v, 2);
    srel();
    assert.equal(await ws.runExclusive((value) => value), 2);
    const ts = instrument(tryAcquire(new Semaphore(1)), 'am6.TS');
    const [v1, r1] = await ts.acquire();
    assert.equal(v1, 1);
    r1();
    lockdep.assertNotHeld(ws);
    lockdep.assertNotHeld(ts);
    assert.equal(lockdep.reports().length, 0, JSON.stringify(lockdep.reports()));
  });

  it('instrument(withTimeout(m)): an A->B / B->A inversion through the wrappers is reported', async () => {
    lockdep.enable({ action: 'collect' });
    const a = instrument(withTimeout(new Mutex(), 5000), 'am7.A');
    const b = instrument(tryAcquire(new Mutex()), 'am7.B');
    await a.runExclusive(() => b.runExclusive(() => 1));
    assert.equal(lockdep.reports().length, 0);
    await b.runExclusive(async () => {
      const release = await a.acquire();
      lockdep.assertHeld(a);
      release();
    });
    const r = lockdep.reports().filter((x) => x.kind === 'circular');
    assert.equal(r.length, 1, JSON.stringify(lockdep.reports(), null, 1));
    assert.deepEqual([...r[0]!.classes].sort(), ['am7.A', 'am7.B']);
  });

  it('instrumenting twice with the same name is a no-op; with another name ERR_KIND_MISMATCH', () => {
    const m = new Mutex();
    assert.equal(instrument(m, 'x'), instrument(m, 'x'));
    assert.throws(() => instrument(m, 'y'), (e: unknown) => e instanceof QuiesceError && e.code === 'ERR_KIND_MISMATCH');
    assert.throws(() => instrument({} as never, 'z'), (e: unknown) => e instanceof QuiesceError && e.code === 'ERR_INVALID_ARG');
  });
});
