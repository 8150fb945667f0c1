/* A scripted worker for test/ref/review.test.ts (not a test file itself): attaches and obeys commands. */
import { parentPort } from 'node:worker_threads';
import { Domain, PercpuRef, QuiesceError } from '../../src/index.js';
import { PR_MODE } from '../../src/domain/layout.js';

const d = Domain.attach();
const port = parentPort!;
const codeOf = (e: unknown): string => (e instanceof QuiesceError ? e.code : String(e));

port.on('message', async (m: { id: number; cmd: string; [k: string]: any }) => {
  const reply = (x: Record<string, unknown> = {}): void => port.postMessage({ id: m.id, ...x });
  try {
    switch (m.cmd) {
      case 'killOnFlag': {
        // ctl[0] = 1: ready; wait (bounded) for ctl[1] == 1, then kill ref `victim`; ctl[2] = 1: done.
        const victim = d.percpuRef(m.victim);
        const ctl = new Int32Array(m.ctl as SharedArrayBuffer);
        Atomics.store(ctl, 0, 1);
        Atomics.notify(ctl, 0);
        const t0 = performance.now();
        while (Atomics.load(ctl, 1) === 0) {
          if (performance.now() - t0 > 10_000) return reply({ killed: 'no-flag' });
          Atomics.wait(ctl, 1, 0, 50);
        }
        let killed = 'ok';
        try {
          victim.kill();
        } catch (e) {
          killed = codeOf(e);
        }
        Atomics.store(ctl, 2, 1);
        Atomics.notify(ctl, 2);
        return reply({ killed });
      }
      case 'spin': {
        // Run synchronously (no quiescent state) until ctl[1] != 0 or `ms` pass; ctl[0] = 1 at the start.
        const ctl = new Int32Array(m.ctl as SharedArrayBuffer);
        Atomics.store(ctl, 0, 1);
        const t0 = performance.now();
        while (Atomics.load(ctl, 1) === 0 && performance.now() - t0 < m.ms) {
          /* spin */
        }
        return reply();
      }
      case 'excessPuts': {
        // Excess puts on ref `name` (this thread holds nothing): once it leaves percpu mode
        // (ctl[0] = 1 while waiting), `during` atomic-mode puts while holding the switch's grace
        // period up; then (reporting quiescent states) one more put once ctl[1] != 0 (the parent
        // is inside the fold's imbalance report); ctl[2] = 1 after it.
        const ref = d.percpuRef(m.name);
        const ctl = new Int32Array(m.ctl as SharedArrayBuffer);
        const i32 = (ref as unknown as { i32: Int32Array }).i32;
        const h = (ref as unknown as { h: number }).h;
        Atomics.store(ctl, 0, 1);
        const t0 = performance.now();
        while (Atomics.load(i32, h + PR_MODE) === 0) if (performance.now() - t0 > 10_000) return reply({ error: { code: 'OTHER', message: 'never killed' } });
        for (let i = 0; i < m.during; i++) ref.put();
        while (Atomics.load(ctl, 1) === 0) {
          if (performance.now() - t0 > 10_000) return reply({ error: { code: 'OTHER', message: 'no flag' } });
          d.rcu.quiescentState();
          Atomics.wait(ctl, 1, 0, 1);
        }
        let late = 'ok';
        try {
          ref.put();
        } catch (e) {
          late = codeOf(e);
        }
        Atomics.store(ctl, 2, 1);
        Atomics.notify(ctl, 2);
        return reply({ late });
      }
      case 'get': {
        d.percpuRef(m.name, m.opts ?? {}).get(m.n ?? 1);
        return reply();
      }
      case 'put': {
        d.percpuRef(m.name, m.opts ?? {}).put(m.n ?? 1);
        return reply();
      }
    }
    reply({ error: { code: 'OTHER', message: `unknown ${m.cmd}` } });
  } catch (e) {
    reply({ error: { code: codeOf(e), message: String(e) } });
  }
});
void PercpuRef;
port.postMessage({ event: 'ready', slot: d.threadIndex });
