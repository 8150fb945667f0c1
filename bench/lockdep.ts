/*
 * lockdep benchmarks (issue: lockdep): the steady-state cost of validation, every chain already
 * seen (served from the chain-key cache), with real quiesce mutexes.
 *  - 3 nested Mutex lockSync()/unlock(), lockdep on vs off: target at most 2x;
 *  - the same with async lock()/unlock(): target at most 2x;
 *  - the floor of the async row: the same loop with lockdep off but empty V8 promise hooks (init,
 *    before, after) installed, which is how lockdep follows async tasks (lockdep/context.ts): what
 *    any per-task context tracking costs on Node 20, for reference.
 * lockdep is switched on for the figure's rounds and off for the baseline's, alternating.
 */
import { promiseHooks } from 'node:v8';
import { Domain, lockdep } from '../src/index.js';
import { consume, measureAsyncLoopPair, measurePair, row, type Row } from './harness.js';

export async function benchLockdep(): Promise<Row[]> {
  const d = Domain.create({ name: 'bench-lockdep', maxThreads: 2 });
  // Separate classes for the two loops: one class taken both by lockSync and across await is an
  // 'inconsistent-usage' report, rightly.
  const [a, b, c] = ['bench.A', 'bench.B', 'bench.C'].map((n) => d.mutex(n));
  const [x, y, z] = ['bench.X', 'bench.Y', 'bench.Z'].map((n) => d.mutex(n));
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
  const nestedAsync = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const ga = await x!.lock();
      const gb = await y!.lock();
      const gc = await z!.lock();
      gc.unlock();
      gb.unlock();
      ga.unlock();
    }
    consume(n);
  };
  const on = (): void => lockdep.enable({ action: 'collect', stacks: false });
  const off = (): void => lockdep.disable();

  const r1 = measurePair(
    (n) => {
      on();
      nestedSync(n);
      off();
    },
    nestedSync,
    50_000,
  );
  const r2 = await measureAsyncLoopPair(
    async (n) => {
      on();
      await nestedAsync(n);
      off();
    },
    nestedAsync,
    5_000,
  );
  const r3 = await measureAsyncLoopPair(
    async (n) => {
      const stop = promiseHooks.createHook({ init() {}, before() {}, after() {} }) as () => void;
      await nestedAsync(n);
      stop();
    },
    nestedAsync,
    5_000,
  );
  if (lockdep.reports().length > 0) throw new Error(`bench-lockdep: unexpected reports: ${lockdep.reports().map((r) => r.kind)}`);
  lockdep.reset();
  d.detach();
  return [
    row('lockdep', '3 nested Mutex lockSync/unlock, lockdep on', r1.figure, 'lockdep off', r1.baseline, 'ns', { kind: 'within', x: 2 }),
    row('lockdep', '3 nested Mutex await lock()/unlock, lockdep on', r2.figure, 'lockdep off', r2.baseline, 'ns', { kind: 'within', x: 2 }),
    row('lockdep', '(floor) same async loop, empty V8 promise hooks', r3.figure, 'no hooks', r3.baseline, 'ns', { kind: 'info', x: 0 }, 'the cost of any per-task context tracking on Node 20'),
  ];
}
