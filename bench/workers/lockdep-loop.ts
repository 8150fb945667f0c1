/*
 * Bench worker for bench/lockdep.ts: runs the 3-deep `await lock()` mutex nest on request and
 * answers with ns per iteration. workerData.mode fixes, for the worker's whole life, what its
 * isolate has:
 *   'off'    lockdep never enabled, no promise hook ever installed (a process that does not use
 *            lockdep);
 *   'on'     lockdep enabled from the start (a process run under QUIESCE_LOCKDEP=1);
 *   'hooks'  empty V8 promise hooks installed from the start, no lockdep (the floor row);
 *   'was-on' lockdep enabled, then disabled again before the first round (what disable() gives
 *            back);
 *   'model'  no lockdep, but the least a per-task lock tracker on promise hooks must do (the
 *            model row): the hooks give each promise made from another the stack of held locks
 *            its creator had (one property), `before`/`after` name the running reaction, and
 *            each hold is one small node pushed onto the current stack and attached to the
 *            promise its acquirer returns (the carrier), then marked released. No chain keys, no
 *            validation, no usage rules: a yardstick for lockdep's own bookkeeping, not a checker.
 * Each worker is its own isolate, which is the point: V8 turns off some of its async fast paths
 * (its promise-hook protector) the first time any promise hook is installed, and never turns them
 * back on, even once the hooks are removed. A lockdep-off baseline measured in a thread that had
 * lockdep on earlier would be that slower loop, not what a process without lockdep runs.
 * Each worker uses a Domain of its own, so the three never share a lock or a lockdep graph.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { promiseHooks } from 'node:v8';
import { Domain, lockdep } from '../../src/index.js';

export type LoopMode = 'off' | 'on' | 'hooks' | 'was-on' | 'model';
export type LoopRequest = { loop: 'async'; n: number } | { loop: 'done' };
export type LoopReply = { ns: number } | { reports: number } | { error: string };

const mode = (workerData as { mode: LoopMode }).mode;
const port = parentPort!;

if (lockdep.enabled && mode !== 'on' && mode !== 'was-on') {
  // Inherited (QUIESCE_LOCKDEP=1, or lockdep.enable() in the thread that started the benchmark):
  // the baseline would not be a lockdep-off process. Refuse rather than report a wrong ratio.
  port.postMessage({ error: `bench-lockdep: lockdep is enabled in the '${mode}' worker (QUIESCE_LOCKDEP=1?): run the benchmark without it` } satisfies LoopReply);
} else {
  if (mode === 'on' || mode === 'was-on') lockdep.enable({ action: 'collect', stacks: false });
  if (mode === 'hooks') promiseHooks.createHook({ init() {}, before() {}, after() {} });
  const d = Domain.create({ name: `bench-lockdep-${mode}`, maxThreads: 1 });
  const [x, y, z] = ['bench.X', 'bench.Y', 'bench.Z'].map((n) => d.mutex(n));
  let sink = 0; // the loop's results go here, so the optimiser cannot delete it
  const nestedAsync = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const ga = await x!.lock();
      const gb = await y!.lock();
      const gc = await z!.lock();
      gc.unlock();
      gb.unlock();
      ga.unlock();
    }
    sink = (sink + n) | 0;
  };
  const model = mode === 'model' ? minimalTracker() : null;
  const nestedModel = async (n: number): Promise<void> => {
    const { hold, release } = model!;
    for (let i = 0; i < n; i++) {
      const ha = hold(x);
      const ga = await x!.lock();
      const hb = hold(y);
      const gb = await y!.lock();
      const hc = hold(z);
      const gc = await z!.lock();
      gc.unlock();
      release(hc);
      gb.unlock();
      release(hb);
      ga.unlock();
      release(ha);
    }
    sink = (sink + n) | 0;
  };
  const loop = model ? nestedModel : nestedAsync;
  const ready = (): void => port.postMessage({ ns: 0 } satisfies LoopReply);
  port.on('message', (m: LoopRequest) => {
    if (m.loop === 'done') {
      const reports = lockdep.enabled ? lockdep.reports().length : 0;
      d.detach();
      port.postMessage({ reports } satisfies LoopReply);
      port.close();
      return;
    }
    const t0 = process.hrtime.bigint();
    void loop(m.n).then(() => port.postMessage({ ns: Number(process.hrtime.bigint() - t0) / m.n } satisfies LoopReply));
  });
  if (mode === 'was-on') {
    // The loop once with lockdep on (its hooks installed and used), then off for good.
    void nestedAsync(1_000).then(() => {
      const reports = lockdep.reports().length;
      lockdep.disable();
      if (reports === 0) ready();
      else port.postMessage({ error: `bench-lockdep: ${reports} unexpected lockdep reports in the 'was-on' worker` } satisfies LoopReply);
    });
  } else {
    ready();
  }
}

/** The model row's tracker (see the header): installs its hooks, returns hold/release. */
function minimalTracker(): { hold: (lock: object) => Held; release: (h: Held) => void } {
  const K = Symbol('held');
  type P = { [K]?: Held | null };
  let running: P | null = null; // the promise whose reaction runs
  let carrierFor: Held | null = null; // the next parentless promise (the acquirer's) carries it
  promiseHooks.createHook({
    init(p: Promise<unknown>, parent: Promise<unknown> | undefined) {
      if (parent === undefined) {
        if (carrierFor !== null) {
          (p as P)[K] = carrierFor;
          carrierFor = null;
        }
        return;
      }
      const top = (parent as P)[K] ?? (running !== null ? running[K] : null);
      if (top != null) (p as P)[K] = top;
    },
    before(p: Promise<unknown>) {
      running = p as P;
    },
    after() {
      running = null;
    },
  });
  return {
    hold(lock: object): Held {
      const h: Held = { parent: running !== null ? (running[K] ?? null) : null, lock, live: true };
      carrierFor = h;
      return h;
    },
    release(h: Held): void {
      h.live = false;
      if (running !== null && running[K] === h) running[K] = h.parent;
    },
  };
}

interface Held {
  parent: Held | null;
  lock: object;
  live: boolean;
}
