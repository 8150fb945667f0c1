/*
 * A worker of the demo service (see demo.ts). It serves price lookups:
 *
 *   1. service.tryGetLive()      - a reference on the service (PercpuRef), refused once shutdown began
 *   2. backend.tryAccess()       - access to the "database connection" (Revocable), refused once revoked
 *   3. rcu.read(lookup)          - the price table, published by the main thread with RCU
 *   4. await the "database"      - the access is held across this await: revoke() must wait for it
 *   5. access.release(); service.put()
 *
 * It also runs the two halves of the seeded lock inversion when asked (transfer: accounts -> audit;
 * report: audit -> accounts), at different times, so nothing hangs: lockdep sees the cycle anyway.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Domain } from '../index.js';

const d = Domain.attach();
const service = d.percpuRef('service');
const backend = d.revocable('backend');
const accounts = d.mutex('accounts');
const audit = d.mutex('audit');
const table = new Int32Array(workerData.table as SharedArrayBuffer);
const WORDS = workerData.words as number;
const port = parentPort!;

/** Look a key up in the current table version; returns [price, version] or null if it saw a destroyed table. */
function lookup(key: number): [number, number] | null {
  return d.rcu.read(() => {
    const slot = Atomics.load(table, 0); // rcu_dereference of the published version
    const base = 1 + slot * (WORDS + 1);
    const version = table[base]!;
    // Read the whole row set the way a real lookup walks a structure: every word must belong to `version`.
    let price = 0;
    for (let j = 1; j <= WORDS; j++) {
      const w = table[base + j]!;
      if (w < 0 || w >>> 16 !== version) return null;
      if (j - 1 === key % WORDS) price = w & 0xffff;
    }
    return [price, version];
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function serve(id: number, key: number): Promise<void> {
  if (!service.tryGetLive()) return void port.postMessage({ t: 'reply', id, status: 503, why: 'service shutting down' });
  try {
    const access = backend.tryAccess();
    if (!access) return void port.postMessage({ t: 'reply', id, status: 503, why: 'backend revoked' });
    try {
      const r = lookup(key);
      if (!r) return void port.postMessage({ t: 'reply', id, status: 500, why: 'saw a destroyed table' });
      await sleep(2 + (key % 9)); // the "database" round trip, with the access held
      port.postMessage({ t: 'reply', id, status: 200, price: r[0], version: r[1] });
    } finally {
      access.release();
    }
  } finally {
    service.put();
  }
}

port.on('message', (m: { t: string; id: number; key: number }) => {
  if (m.t === 'req') void serve(m.id, m.key);
  else if (m.t === 'transfer') {
    accounts.withLock(() => audit.withLock(() => sleep(1))).then(() => port.postMessage({ t: 'done', id: m.id }));
  } else if (m.t === 'report') {
    audit.withLock(() => accounts.withLock(() => sleep(1))).then(() => port.postMessage({ t: 'done', id: m.id }));
  } else if (m.t === 'bye') {
    d.detach();
    port.close();
  }
});
port.postMessage({ t: 'ready', slot: d.threadIndex });
