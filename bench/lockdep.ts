/*
 * lockdep benchmarks (issue: lockdep): the steady-state cost of validation, every chain already
 * seen (served from the chain-key cache), with real quiesce mutexes.
 *  - 3 nested Mutex lockSync()/unlock(), lockdep on vs off: target at most 2x;
 *  - the same with async lock()/unlock(): target at most 2x;
 *  - the floor of the async row: the same loop with lockdep off but empty V8 promise hooks (init,
 *    before, after) installed, which is how lockdep follows async tasks (lockdep/context.ts): what
 *    any per-task context tracking costs on Node 20, for reference;
 *  - (info) the async loop in a thread that enabled lockdep once and disabled it again, against
 *    one that never did: what lockdep.disable() does not give back (below);
 *  - (model) the async loop with the least a per-task lock tracker on promise hooks must do
 *    (workers/lockdep-loop.ts 'model'): the yardstick for lockdep's own async bookkeeping.
 * The sync row runs here, lockdep switched on for the figure's rounds and off for the baseline's,
 * alternating (measurePair). The async rows cannot: once any promise hook has been installed,
 * V8 keeps some of its promise and `await` fast paths off for the rest of the isolate's life
 * (its promise-hook protector; measured: the async loop with lockdep disabled again ran 1.05-1.65x
 * slower than in a thread that never enabled it), so a lockdep-off baseline measured in a thread
 * that ran lockdep-on rounds would flatter the ratio. Each async configuration therefore runs in
 * a worker of its own for its whole life (workers/lockdep-loop.ts): lockdep off in an isolate
 * that never had a promise hook, lockdep on from the start, empty hooks from the start, and
 * lockdep enabled once then disabled. Their rounds alternate (one round of each in turn, this
 * thread idle meanwhile), so the machine's drift hits all of them alike; medians over the rounds.
 * (Until 2026-11-23 the async rows ran in this thread too, and reported about 2x; against a
 * never-hooked baseline the same code measures about 2.8x.)
 */
import { Worker } from 'node:worker_threads';
import { Domain, lockdep } from '../src/index.js';
import { alternate, consume, measurePair, row, type Row } from './harness.js';
import type { LoopMode, LoopReply, LoopRequest } from './workers/lockdep-loop.js';

const WORKER_URL = new URL('./workers/lockdep-loop.js', import.meta.url);

/** A worker running the loops in one configuration; its first reply is 'ready'. */
class LoopWorker {
  private readonly w: Worker;
  private next: ((r: LoopReply) => void) | null = null;
  private failed: Error | null = null;
  readonly ready: Promise<void>;

  constructor(mode: LoopMode) {
    this.w = new Worker(WORKER_URL, { workerData: { mode } }); // lockdep inherited: the worker refuses (and quiesce bench refuses first)
    this.w.on('message', (r: LoopReply) => {
      const f = this.next;
      this.next = null;
      f?.(r);
    });
    this.w.on('error', (e) => {
      this.failed = e;
      const f = this.next;
      this.next = null;
      f?.({ error: String(e) });
    });
    this.ready = this.ask(null).then(() => undefined);
  }

  /** Send `req` (null: only wait for the next reply) and resolve with the worker's answer. */
  ask(req: LoopRequest | null): Promise<LoopReply> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<LoopReply>((resolve, reject) => {
      this.next = (r) => ('error' in r ? reject(new Error(r.error)) : resolve(r));
      if (req) this.w.postMessage(req);
    });
  }

  async time(n: number): Promise<number> {
    const r = await this.ask({ loop: 'async', n });
    if (!('ns' in r)) throw new Error(`bench-lockdep: unexpected reply ${JSON.stringify(r)}`);
    return r.ns;
  }

  /** Stop the worker; the number of lockdep reports it collected (there must be none). */
  async done(): Promise<number> {
    const r = await this.ask({ loop: 'done' });
    await new Promise((resolve) => this.w.once('exit', resolve));
    return 'reports' in r ? r.reports : -1;
  }

  terminate(): Promise<number> {
    return this.w.terminate();
  }
}

/** The sync row, in this thread: 3 nested lockSync/unlock, lockdep on vs off (alternating rounds). */
function benchSync(): { figure: number; baseline: number } {
  const d = Domain.create({ name: 'bench-lockdep', maxThreads: 2 });
  const [a, b, c] = ['bench.A', 'bench.B', 'bench.C'].map((n) => d.mutex(n));
  const nestedSync = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const ga = a!.lockSync();
      const gb = b!.lockSync();
      const gc = c!.lockSync();
      gc.unlock();
      gb.unlock();
      ga.unlock();
    }
    consume(n);
  };
  const r = measurePair(
    (n) => {
      lockdep.enable({ action: 'collect', stacks: false });
      nestedSync(n);
      lockdep.disable();
    },
    nestedSync,
    50_000,
  );
  if (lockdep.reports().length > 0) throw new Error(`bench-lockdep: unexpected reports: ${lockdep.reports().map((x) => x.kind)}`);
  lockdep.reset();
  d.detach();
  return r;
}

export async function benchLockdep(): Promise<Row[]> {
  // The workers first: started after this thread's lockdep.enable() they would inherit it.
  const off = new LoopWorker('off');
  const on = new LoopWorker('on');
  const hooks = new LoopWorker('hooks');
  const wasOn = new LoopWorker('was-on');
  const model = new LoopWorker('model');
  const all = [off, on, hooks, wasOn, model];
  try {
    await Promise.all(all.map((w) => w.ready));
    const sync = benchSync();
    // One round per worker in turn, after two warm-up rounds each (JIT tiers up).
    const [asyncOff, asyncOn, asyncHooks, asyncWasOn, asyncModel] = await alternate(
      all.map((w) => () => w.time(5_000)),
      15,
      2,
    );
    const reports = await Promise.all(all.map((w) => w.done()));
    if (reports.some((n) => n !== 0)) throw new Error(`bench-lockdep: unexpected lockdep reports in the workers: ${reports.join(', ')}`);
    return [
      row('lockdep', '3 nested Mutex lockSync/unlock, lockdep on', sync.figure, 'lockdep off', sync.baseline, 'ns', { kind: 'within', x: 2 }),
      row('lockdep', '3 nested Mutex await lock()/unlock, lockdep on', asyncOn!, 'lockdep off', asyncOff!, 'ns', { kind: 'within', x: 2 }),
      row('lockdep', '(floor) same async loop, empty V8 promise hooks', asyncHooks!, 'no hooks', asyncOff!, 'ns', { kind: 'info', x: 0 }, 'the cost of any per-task context tracking on Node 20'),
      row('lockdep', '(info) same async loop, lockdep enabled then disabled', asyncWasOn!, 'never enabled', asyncOff!, 'ns', { kind: 'info', x: 0 }, "V8's async fast paths stay off once a promise hook was installed"),
      row('lockdep', '(model) same async loop, a minimal per-task lock tracker', asyncModel!, 'lockdep off', asyncOff!, 'ns', { kind: 'info', x: 0 }, 'hooks + one node per hold, no validation: the yardstick for lockdep'),
    ];
  } finally {
    await Promise.all(all.map((w) => w.terminate()));
  }
}
