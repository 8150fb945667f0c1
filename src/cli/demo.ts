/*
 * `quiesce demo` (also `npm start`): a small multi-worker price service, run for real.
 *
 *   main thread                               3 workers (demo-worker.ts)
 *   -----------                               --------------------------
 *   publishes a price table with RCU           look prices up inside rcu.read()
 *   sends a stream of requests                 hold a PercpuRef + a Revocable access per request,
 *                                              across an await (the "database" round trip)
 *   phase 1  traffic
 *   phase 2  hot swaps of the table under load: publish, rcu.synchronize(), destroy the old version
 *   phase 3  a seeded lock inversion (accounts->audit in one worker, audit->accounts in another,
 *            never at the same time): lockdep reports the deadlock that did not happen
 *   phase 4  graceful shutdown under load: backend.revoke() waits for every in-flight access,
 *            then service.killAndDrain() waits for every reference, then the table is freed
 *
 * and ends with a one-screen summary. Every number in it is counted, none is scripted.
 */
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { Domain, lockdep, type LockdepReport } from '../index.js';

const WORDS = 64;
const WORKERS = 3;

interface Stats {
  sent: number;
  ok: number;
  refusedRevoked: number;
  refusedShutdown: number;
  torn: number;
  versions: Set<number>;
}

const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string): string => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string): string => (tty ? `\x1b[31m${s}\x1b[0m` : s);
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runDemo(_argv: string[] = []): Promise<number> {
  const t0 = performance.now();
  lockdep.enable({ action: 'collect' });
  const domain = Domain.create({ name: 'demo', maxThreads: 8 });

  // The table: [current slot] then two versions of [version, WORDS words of (version<<16 | price)].
  const table = new Int32Array(new SharedArrayBuffer(4 * (1 + 2 * (WORDS + 1))));
  const writeVersion = (slot: number, version: number): void => {
    const base = 1 + slot * (WORDS + 1);
    table[base] = version;
    for (let j = 1; j <= WORDS; j++) table[base + j] = (version << 16) | ((version * 7 + j * 13) % 1000);
  };
  const destroy = (slot: number): void => void table.fill(-1, 1 + slot * (WORDS + 1), 1 + (slot + 1) * (WORDS + 1));
  writeVersion(0, 1);
  Atomics.store(table, 0, 0);

  let released = false;
  const service = domain.percpuRef('service', { onRelease: () => (released = true) });
  const backend = domain.revocable('backend');

  say(bold('quiesce demo: a price service on 3 worker threads'));
  const workers: Worker[] = [];
  for (let i = 0; i < WORKERS; i++) {
    workers.push(
      domain.spawn(new URL('./demo-worker.js', import.meta.url), {
        workerData: { table: table.buffer, words: WORDS },
        env: { ...process.env, QUIESCE_LOCKDEP: '1', QUIESCE_LOCKDEP_ACTION: 'collect' },
      }),
    );
  }
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  say(`  workers attached to domain '${domain.name}' (thread slots 1-${WORKERS})`);

  // ---- the request stream -------------------------------------------------------------------------
  const stats: Stats = { sent: 0, ok: 0, refusedRevoked: 0, refusedShutdown: 0, torn: 0, versions: new Set() };
  const pending = new Map<number, () => void>();
  for (const w of workers) {
    w.on('message', (m: { t: string; id: number; status?: number; why?: string; version?: number }) => {
      if (m.t !== 'reply') return;
      if (m.status === 200) {
        stats.ok++;
        stats.versions.add(m.version!);
      } else if (m.why === 'backend revoked') stats.refusedRevoked++;
      else if (m.why === 'service shutting down') stats.refusedShutdown++;
      else stats.torn++;
      pending.get(m.id)?.();
      pending.delete(m.id);
    });
  }
  let nextId = 1;
  const request = (): Promise<void> => {
    const id = nextId++;
    stats.sent++;
    const p = new Promise<void>((r) => pending.set(id, r));
    workers[id % WORKERS]!.postMessage({ t: 'req', id, key: id * 31 });
    return p;
  };
  let pumping = true;
  const inFlight = new Set<Promise<void>>();
  const pump = (async () => {
    while (pumping) {
      for (let i = 0; i < 6; i++) {
        const p = request();
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      await sleep(1);
    }
  })();
  const progress = (phase: string): void =>
    say(`  [${((performance.now() - t0) / 1000).toFixed(1)}s] ${phase.padEnd(34)} sent ${stats.sent}, ok ${stats.ok}, in flight ${inFlight.size}`);

  // ---- phase 1: traffic -----------------------------------------------------------------------------
  say(bold('\nphase 1: traffic'));
  for (let i = 0; i < 3; i++) {
    await sleep(150);
    progress('serving from table v1');
  }

  // ---- phase 2: RCU hot swaps ------------------------------------------------------------------------
  say(bold('\nphase 2: hot swaps of the price table (RCU)'));
  const gp0 = domain.rcu.stats.gracePeriods;
  let swapMs = 0;
  const SWAPS = 50;
  for (let v = 2; v <= SWAPS + 1; v++) {
    const old = Atomics.load(table, 0);
    const next = 1 - old;
    writeVersion(next, v); // build the new version where no reader can look
    Atomics.store(table, 0, next); // publish
    const s = performance.now();
    await domain.rcu.synchronize(); // every reader that might still see `old` has finished
    swapMs += performance.now() - s;
    destroy(old); // now safe: scribble over it
    if (v % 10 === 1) progress(`swapped to v${v}`);
    await sleep(2);
  }
  const gps = domain.rcu.stats.gracePeriods - gp0;
  say(`  ${SWAPS} swaps, ${gps} grace periods, mean synchronize() ${(swapMs / SWAPS).toFixed(2)} ms; readers that saw a destroyed table: ${stats.torn}`);

  // ---- phase 3: lockdep catches a seeded inversion ------------------------------------------------
  say(bold('\nphase 3: a seeded lock inversion (never actually deadlocks)'));
  const ask = (w: Worker, t: string): Promise<void> =>
    new Promise((r) => {
      const id = nextId++;
      const on = (m: { t: string; id: number }): void => {
        if (m.t === 'done' && m.id === id) {
          w.off('message', on);
          r();
        }
      };
      w.on('message', on);
      w.postMessage({ t, id });
    });
  await ask(workers[0]!, 'transfer'); // accounts -> audit, in worker 1
  say('  worker 1: transfer() took accounts, then audit');
  await ask(workers[1]!, 'report'); // audit -> accounts, in worker 2, later
  say('  worker 2: report() took audit, then accounts');
  let cycle: LockdepReport | undefined;
  for (let i = 0; i < 50 && !cycle; i++) {
    await sleep(10); // reports from other threads arrive within a turn or two
    cycle = lockdep.reports().find((r) => r.kind === 'circular');
  }
  if (cycle) {
    say(`  ${red('lockdep:')} possible circular locking dependency: ${cycle.classes.join(' -> ')} -> ${cycle.classes[0]}`);
    const scenario = cycle.text.split('\n').filter((l) => /CONTEXT|lock\(|DEADLOCK/.test(l));
    for (const l of scenario) say(`    ${l}`);
  } else say(`  ${red('lockdep did not report the inversion')}`);

  // ---- phase 4: graceful shutdown under load ----------------------------------------------------------
  say(bold('\nphase 4: graceful shutdown while requests are in flight'));
  await sleep(50);
  const inFlightAtShutdown = inFlight.size;
  progress('shutdown begins');
  let s = performance.now();
  await backend.revoke({ timeoutMs: 10000 }); // refuse new accesses, wait for every one in flight
  const revokeMs = performance.now() - s;
  say(`  backend.revoke() resolved after ${revokeMs.toFixed(1)} ms: no access to the backend remains anywhere`);
  s = performance.now();
  await service.killAndDrain({ timeoutMs: 10000 }); // drop the initial ref, wait for every request's ref
  const drainMs = performance.now() - s;
  say(`  service.killAndDrain() resolved after ${drainMs.toFixed(1)} ms: every request reference is gone`);
  pumping = false;
  await pump;
  await Promise.race([Promise.all(inFlight), sleep(2000)]);
  destroy(0);
  destroy(1);
  for (let i = 0; i < 20 && !released; i++) await sleep(5);

  for (const w of workers) w.postMessage({ t: 'bye' });
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));

  // ---- summary -----------------------------------------------------------------------------------------
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const check = (ok: boolean): string => (ok ? green('ok') : red('FAILED'));
  say(bold('\nsummary'));
  say(`  requests sent ${stats.sent}: served ${stats.ok}, refused while revoked ${stats.refusedRevoked}, refused while shutting down ${stats.refusedShutdown}`);
  say(`  table versions served: ${stats.versions.size} (of ${SWAPS + 1}); readers that saw a destroyed table: ${stats.torn}   ${check(stats.torn === 0)}`);
  say(`  grace periods for ${SWAPS} swaps: ${gps}`);
  say(`  in flight when shutdown began: ${inFlightAtShutdown}; revoke waited ${revokeMs.toFixed(1)} ms, drain ${drainMs.toFixed(1)} ms   ${check(released)}`);
  say(`  service onRelease ran: ${released}; every request answered: ${stats.sent === stats.ok + stats.refusedRevoked + stats.refusedShutdown + stats.torn}`);
  say(`  lockdep: ${cycle ? `caught the accounts/audit inversion before it could deadlock` : 'MISSED the inversion'}   ${check(cycle !== undefined)}`);
  say(`  done in ${seconds}s`);
  lockdep.disable();
  return stats.torn === 0 && released && cycle !== undefined ? 0 : 1;
}

// Run directly: node dist/src/cli/demo.js
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runDemo().then((c) => (process.exitCode = c));
}
