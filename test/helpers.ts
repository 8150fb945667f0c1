/* Test helpers: bounded waits for worker messages, and fixture paths. */
import type { Worker } from 'node:worker_threads';

/** URL of a compiled fixture (test/fixtures/<name>.ts -> dist/test/fixtures/<name>.js). */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}.js`, import.meta.url);
}

/** Spawn fixture `name` into domain `d` and wait for its 'ready' message (every fixture sends one). */
export async function spawnReady(d: { spawn(url: URL): Worker }, name: string): Promise<Worker> {
  const w = d.spawn(fixture(name));
  await nextMessage(w, (m) => m.event === 'ready');
  return w;
}

/**
 * Scripted workers of fixture `name` in `d`: spawn() starts one and waits for 'ready'; stop()
 * (register it with `after`) terminates every one started, including those of a test that failed
 * half-way (a worker left alive would keep the test process from exiting).
 */
export function workerPool(d: { spawn(url: URL): Worker }, name: string): { spawn(): Promise<Worker>; stop(): Promise<void> } {
  const workers: Worker[] = [];
  return {
    async spawn() {
      const w = await spawnReady(d, name);
      workers.push(w);
      return w;
    },
    async stop() {
      for (const w of workers.splice(0)) await w.terminate();
    },
  };
}

/** Resolve with the first message from `w` that satisfies `pred`, or reject after `ms`. */
export function nextMessage<T = any>(w: Worker, pred: (m: any) => boolean = () => true, ms = 10000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      w.off('message', on);
      reject(new Error(`no matching worker message within ${ms} ms`));
    }, ms);
    const on = (m: unknown): void => {
      if (!pred(m)) return;
      clearTimeout(t);
      w.off('message', on);
      resolve(m as T);
    };
    w.on('message', on);
  });
}

/** Send a command and wait for its reply ({ id, ... }). */
let nextId = 1;
export async function call<T = any>(w: Worker, cmd: string, args: Record<string, unknown> = {}, ms = 10000): Promise<T> {
  const id = nextId++;
  const p = nextMessage<T>(w, (m) => m && m.id === id, ms);
  w.postMessage({ id, cmd, ...args });
  return p;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `pred` every few ms until it holds; throw naming `what` if it does not within `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`${what}: not true within ${ms} ms`);
    await sleep(2);
  }
}

/** Busy-wait (a long synchronous section). */
export function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: not done within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** assert.throws/rejects predicate: a QuiesceError with this code. */
export const code =
  (c: string) =>
  (e: unknown): boolean =>
    e instanceof Error && e.name === 'QuiesceError' && (e as Error & { code?: string }).code === c;

/** Resolves true if `p` settles (either way) within `ms`, false otherwise; never rejects. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([p.then(() => true, () => true), new Promise<false>((res) => (t = setTimeout(() => res(false), ms)))]);
  clearTimeout(t);
  return r;
}

/** How `fn()` ended: 'ok', or the error's code (its text if it has none). */
export function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** outcome() of an async `fn`. */
export async function outcomeAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}
