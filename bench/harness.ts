/*
 * The benchmark harness: every figure is measured against a baseline IN THE SAME RUN.
 *
 * This machine is shared and noisy, so absolute nanoseconds mean little; ratios measured close
 * together in time mean a lot. measurePair() alternates figure and baseline in ROUNDS short
 * rounds (each a tight loop of `n` iterations inside one function, so call overhead is amortised
 * and the JIT sees a hot loop) and reports the median per-operation time of each. Loop bodies
 * write to a sink the harness reads, so the optimiser cannot delete the work.
 *
 * (tinybench/mitata time one callback call per sample; for 1-3 ns operations that call costs more
 * than the operation, so the loops live inside the measured functions instead.)
 */

export interface Target {
  /** 'cheaper': baseline/figure must be >= x ("at least x times cheaper"); 'within': figure/baseline <= x. */
  kind: 'cheaper' | 'within' | 'faster' | 'max' | 'info';
  x: number;
}

export interface Row {
  group: string;
  name: string;
  figure: number;
  baselineName: string;
  baseline: number;
  unit: string;
  /** figure/baseline for 'within', baseline/figure for 'cheaper', figure/baseline throughput for 'faster'. */
  ratio: number;
  target: string;
  met: boolean;
  note?: string;
}

export function row(group: string, name: string, figure: number, baselineName: string, baseline: number, unit: string, t: Target, note?: string): Row {
  let ratio: number;
  let met: boolean;
  let target: string;
  switch (t.kind) {
    case 'cheaper':
      ratio = baseline / figure;
      met = ratio >= t.x;
      target = `>= ${t.x}x cheaper`;
      break;
    case 'within':
      ratio = figure / baseline;
      met = ratio <= t.x;
      target = `<= ${t.x}x baseline`;
      break;
    case 'faster':
      ratio = figure / baseline;
      met = ratio >= t.x;
      target = `>= ${t.x}x baseline`;
      break;
    case 'max':
      ratio = figure / baseline;
      met = figure <= t.x;
      target = `<= ${t.x} ${unit}`;
      break;
    case 'info':
      ratio = figure / baseline;
      met = true;
      target = '(reference, no target)';
      break;
  }
  return { group, name, figure, baselineName, baseline, unit, ratio, target, met, ...(note ? { note } : {}) };
}

export let sink = 0;
export function consume(x: number): void {
  sink = (sink + x) | 0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

/** Time `fn(n)` once, in ns per iteration. */
function timeOnce(fn: (n: number) => void, n: number): number {
  const t0 = process.hrtime.bigint();
  fn(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

/** Median ns/op of figure and baseline, alternating rounds. */
export function measurePair(figure: (n: number) => void, baseline: (n: number) => void, n = 200_000, rounds = 15): { figure: number; baseline: number } {
  // warm up both (JIT tiers up)
  for (let i = 0; i < 3; i++) {
    timeOnce(figure, n);
    timeOnce(baseline, n);
  }
  const f: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    f.push(timeOnce(figure, n));
    b.push(timeOnce(baseline, n));
  }
  return { figure: median(f), baseline: median(b) };
}

/**
 * Medians of several async samplers, alternating: `warmups` rounds and then `rounds` rounds, each
 * round calling every sampler once, in order; a sampler returns one round's measurement.
 */
export async function alternate(samplers: (() => Promise<number>)[], rounds: number, warmups: number): Promise<number[]> {
  const times: number[][] = samplers.map(() => []);
  for (let r = 0; r < warmups + rounds; r++) {
    for (let i = 0; i < samplers.length; i++) {
      const t = await samplers[i]!();
      if (r >= warmups) times[i]!.push(t);
    }
  }
  return times.map(median);
}

/** Median ns/op of two async batch functions (`fn(n)` runs n operations), alternating rounds. */
export async function measureAsyncLoopPair(figure: (n: number) => Promise<void>, baseline: (n: number) => Promise<void>, n = 20_000, rounds = 11): Promise<{ figure: number; baseline: number }> {
  const once = (fn: (n: number) => Promise<void>) => async (): Promise<number> => {
    const t0 = process.hrtime.bigint();
    await fn(n);
    return Number(process.hrtime.bigint() - t0) / n;
  };
  const [f, b] = await alternate([once(figure), once(baseline)], rounds, 2);
  return { figure: f!, baseline: b! };
}

/** Median ms of an async operation, alternating with its baseline. */
export async function measureAsyncPair(figure: () => Promise<void>, baseline: () => Promise<void>, rounds = 30): Promise<{ figure: number; baseline: number }> {
  const once = (fn: () => Promise<void>) => async (): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const [f, b] = await alternate([once(figure), once(baseline)], rounds, 5);
  return { figure: f!, baseline: b! };
}

export function formatTable(rows: Row[]): string {
  const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const head = ['benchmark', 'figure', 'baseline', 'ratio', 'target', 'ok'];
  const body = rows.map((r) => [
    `${r.group}: ${r.name}`,
    `${fmt(r.figure)} ${r.unit}`,
    `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`,
    `${fmt(r.ratio)}x`,
    r.target,
    r.target.startsWith('(') ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
