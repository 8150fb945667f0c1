/*
 * lib/locking-selftest.c, ported. One row per kernel test case (or family of permutations), each
 * with its expected verdict: F = lockdep must report, S = it must stay silent.
 *
 * Notation (the kernel's macros, applied through lockdep's manual annotation API):
 *   L / WL / ML / WSL (x)  write-lock (E)          RSL (x)  non-recursive read (r: rwsem read)
 *   RL (x)                 recursive read (R: read_lock / rcu_read_lock)
 *   TL / TRSL / TRL (x)    trylock, as writer / r / R
 *   U / WU / RU / RSU / MU / WSU (x)  unlock (release of the newest held lock of that class)
 *   IL (x)  write-lock with an instance, INIT (x)  re-initialise/free that instance ("init_held")
 * X1, X2 are two instances of class X (the digit is dropped: lockdep validates classes).
 * JS "interrupt" translations (design/lockdep.md):
 *   AL (x)  lock held across an await (the irq-context lock: HELD-ACROSS-AWAIT)
 *   ARL (x) the same as a recursive read
 *   SL (x)  lock acquired by blocking the thread (the irqs-enabled lock: SYNC-BLOCKING-ACQUIRE)
 *   RCU (x) rcu_read_lock with waitContext 'rcu';  AWAIT / BLOCK: a wait ('async' / 'sync')
 * `|` only separates the kernel's E1/E2/E3 steps for readability.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockdep, type LockdepReport } from '../../src/lockdep/index.js';
import { ld } from '../../src/lockdep/hooks.js';

type Verdict = 'F' | 'S';
interface Row {
  name: string;
  ops: string;
  expect: Verdict;
  kind?: LockdepReport['kind'];
}

const rows: Row[] = [];
const add = (name: string, ops: string, expect: Verdict, kind?: LockdepReport['kind']) => rows.push({ name, ops, expect, ...(kind ? { kind } : {}) });

// ---- AA: LOCK(X1); LOCK(X2)  (mutex/spin/wlock/wsem: F, rsem: F, rlock (recursive): S)
add('AA_mutex', 'L(X1) L(X2)', 'F', 'recursive');
add('AA_wsem', 'WSL(X1) WSL(X2)', 'F', 'recursive');
add('AA_rsem', 'RSL(X1) RSL(X2)', 'F', 'recursive');
add('AA_rlock', 'RL(X1) RL(X2)', 'S');
// ---- read recursion special cases
add('rlock_AA1', 'RL(X1) RL(X1)', 'S');
add('rlock_AA1B', 'RL(X1) RL(X2)', 'S');
add('rsem_AA1', 'RSL(X1) RSL(X1)', 'F', 'recursive');
add('rsem_AA1B', 'RSL(X1) RSL(X2)', 'F', 'recursive');
add('rlock_AA2 (R then W)', 'RL(X1) WL(X2)', 'F', 'recursive');
add('rsem_AA2 (r then W)', 'RSL(X1) WSL(X2)', 'F', 'recursive');
add('rlock_AA3 (W then R)', 'WL(X1) RL(X2)', 'F', 'recursive');
add('rsem_AA3 (W then r)', 'WSL(X1) RSL(X2)', 'F', 'recursive');
add('R then r (rlock_AA R,r)', 'RL(X1) RSL(X2)', 'F', 'recursive');
add('r then R', 'RSL(X1) RL(X2)', 'S');
// ---- read/lock ABBA
add('rlock_ABBA1', 'RL(X1) L(Y1) U(Y1) RU(X1) | L(Y1) WL(X1) WU(X1) U(Y1)', 'F', 'circular');
add('rwsem_ABBA1', 'RSL(X1) ML(Y1) MU(Y1) RSU(X1) | ML(Y1) WSL(X1) WSU(X1) MU(Y1)', 'F', 'circular');
add('rlock_chaincache_ABBA1', 'RL(X1) L(Y1) U(Y1) RU(X1) | L(Y1) RL(X1) RU(X1) U(Y1) | L(Y1) WL(X1) WU(X1) U(Y1)', 'F', 'circular');
add('rlock_ABBA2', 'RL(X1) L(Y1) U(Y1) RU(X1) | L(Y1) RL(X1) RU(X1) U(Y1)', 'S');
add('rwsem_ABBA2', 'RSL(X1) ML(Y1) MU(Y1) RSU(X1) | ML(Y1) RSL(X1) RSU(X1) MU(Y1)', 'F', 'circular');
add('rlock_ABBA3', 'WL(X1) L(Y1) U(Y1) WU(X1) | L(Y1) WL(X1) WU(X1) U(Y1)', 'F', 'circular');
add('rwsem_ABBA3', 'WSL(X1) ML(Y1) MU(Y1) WSU(X1) | ML(Y1) WSL(X1) WSU(X1) MU(Y1)', 'F', 'circular');

// ---- the ordering families, each for E (mutex), r (rsem) and R (rlock: all-recursive = silent)
const families: [string, string[][]][] = [
  ['ABBA', [['A', 'B'], ['B', 'A']]],
  ['ABBCCA', [['A', 'B'], ['B', 'C'], ['C', 'A']]],
  ['ABCABC', [['A', 'B'], ['C', 'A'], ['B', 'C']]],
  ['ABBCCDDA', [['A', 'B'], ['B', 'C'], ['C', 'D'], ['D', 'A']]],
  ['ABCDBDDA', [['A', 'B'], ['C', 'D'], ['B', 'D'], ['D', 'A']]],
  ['ABCDBCDA', [['A', 'B'], ['C', 'D'], ['B', 'C'], ['D', 'A']]],
];
for (const [fam, pairs] of families) {
  for (const [suffix, L, U, verdict] of [
    ['mutex', 'L', 'U', 'F'],
    ['wsem', 'WSL', 'WSU', 'F'],
    ['rsem', 'RSL', 'RSU', 'F'],
    ['rlock', 'RL', 'RU', 'S'],
  ] as const) {
    const ops = pairs.map(([x, y]) => `${L}(${x}) ${L}(${y}) ${U}(${y}) ${U}(${x})`).join(' | ');
    add(`${fam}_${suffix}`, ops, verdict, verdict === 'F' ? 'circular' : undefined);
  }
}

// ---- double unlock / init held
for (const [s, L, U] of [['mutex', 'L', 'U'], ['rsem', 'RSL', 'RSU'], ['rlock', 'RL', 'RU']] as const) {
  add(`double_unlock_${s}`, `${L}(A) ${U}(A) ${U}(A)`, 'F', 'bad-unlock');
}
add('init_held_mutex', 'IL(A) INIT(A)', 'F', 'held-freed');
add('init_unheld_mutex', 'IL(A) U(A) INIT(A)', 'S');

// ---- three-lock read/write rings (R = recursive read), all 6 rotations of E1 E2 E3
const perms = ['123', '132', '213', '231', '312', '321'];
const rings: [string, string[], Verdict][] = [
  ['W1R2_W2R3_W3R1', ['WL(X) RL(Y) RU(Y) WU(X)', 'WL(Y) RL(Z) RU(Z) WU(Y)', 'WL(Z) RL(X) RU(X) WU(Z)'], 'F'],
  ['W1W2_R2R3_W3R1', ['WL(X) WL(Y) WU(Y) WU(X)', 'RL(Y) RL(Z) RU(Z) RU(Y)', 'WL(Z) RL(X) RU(X) WU(Z)'], 'F'],
  ['W1W2_R2R3_R3W1', ['WL(X) WL(Y) WU(Y) WU(X)', 'RL(Y) RL(Z) RU(Z) RU(Y)', 'RL(Z) WL(X) WU(X) RU(Z)'], 'S'],
  ['W1R2_R2R3_W3W1', ['WL(X) RL(Y) RU(Y) WU(X)', 'RL(Y) RL(Z) RU(Z) RU(Y)', 'WL(Z) WL(X) WU(X) WU(Z)'], 'S'],
];
for (const [name, e, verdict] of rings) {
  for (const p of perms) add(`${name}_${p}`, [...p].map((d) => e[Number(d) - 1]!).join(' | '), verdict, verdict === 'F' ? 'circular' : undefined);
}

// ---- trylocks: no edge to the lock they take; once held they are normal held locks
add('trylock_AA', 'L(X1) TL(X2)', 'S');
add('trylock_AA_rsem', 'RSL(X1) TRSL(X2)', 'S');
add('trylock_ABBA', 'L(A) TL(B) U(B) U(A) | L(B) TL(A) U(A) U(B)', 'S');
add('trylock_ABBA_one_side', 'L(A) TL(B) U(B) U(A) | L(B) L(A) U(A) U(B)', 'S');
add('trylock_held_is_normal', 'TL(A) L(B) U(B) U(A) | L(B) L(A) U(A) U(B)', 'F', 'circular');
add('trylock_walk_back (A,try B,C: edge A->C)', 'L(A) TL(B) L(C) U(C) U(B) U(A) | L(C) L(A) U(A) U(C)', 'F', 'circular');
add('nearest_only (A,B,C: no edge A->C, but A->B->C)', 'L(A) L(B) L(C) U(C) U(B) U(A) | L(C) L(A) U(A) U(C)', 'F', 'circular');

// ---- JS "interrupt" translations (irqsafe1, irqsafe3/4, irq_inversion)
for (const [p, ops] of [['12', 'AL(A) U(A) | SL(A) U(A)'], ['21', 'SL(A) U(A) | AL(A) U(A)']]) {
  add(`irqsafe1_await_${p}`, ops, 'F', 'inconsistent-usage');
}
add('irqsafe1_control_sync_sync', 'SL(A) U(A) | SL(A) U(A)', 'S');
add('irqsafe1_control_await_await', 'AL(A) U(A) | AL(A) U(A)', 'S');
const irqsafe3 = ['L(A) L(B) U(B) U(A)', 'SL(B) U(B)', 'AL(A) U(A)'];
for (const p of perms) add(`irqsafe3_await_${p}`, [...p].map((d) => irqsafe3[Number(d) - 1]!).join(' | '), 'F', 'inconsistent-usage');
const inversion = ['WL(A) L(B) U(B) WU(A)', 'SL(B) U(B)', 'ARL(A) RU(A)'];
for (const p of perms) add(`irq_inversion_await_${p}`, [...p].map((d) => inversion[Number(d) - 1]!).join(' | '), 'F', 'inconsistent-usage');
add('irq_inversion_control (B also awaited)', 'WL(A) L(B) U(B) WU(A) | AL(B) U(B) | ARL(A) RU(A)', 'S');
add('invalid_wait_rcu_await', 'RCU(rcu) AWAIT RU(rcu)', 'F', 'invalid-wait');
add('invalid_wait_rcu_block', 'RCU(rcu) BLOCK RU(rcu)', 'F', 'invalid-wait');
add('invalid_wait_block_while_awaited_held', 'AL(A) BLOCK U(A)', 'F', 'invalid-wait');
add('valid_wait_await_while_awaited_held', 'AL(A) AWAIT U(A)', 'S');
add('valid_wait_block_no_locks', 'BLOCK', 'S');
// waits are dependencies: completion wait under L vs signaller (a reader of the map) taking L
add('sync_vs_reader', 'L(L) SYNC(done) U(L) | RSL(done) L(L) U(L) RSU(done)', 'F', 'circular');
add('sync_vs_reader_other_lock', 'L(L) SYNC(done) U(L) | RSL(done) L(M) U(M) RSU(done)', 'S');
add('sync_in_own_read_section', 'RSL(done) SYNC(done) RSU(done)', 'F', 'recursive');

// ------------------------------------------------------------------ the interpreter

function run(ops: string): LockdepReport[] {
  lockdep.reset();
  const instances = new Map<string, object>();
  const handles = new Map<string, ReturnType<typeof ld.acquire>[]>();
  const cls = (x: string) => lockdep.lockClass(x.replace(/\d+$/, ''));
  for (const tok of ops.split(/\s+/).filter((t) => t && t !== '|')) {
    const m = /^([A-Z]+)(?:\(([A-Za-z0-9]+)\))?$/.exec(tok);
    assert.ok(m, `bad token ${tok}`);
    const [, op, arg = ''] = m;
    const c = arg ? cls(arg) : null;
    switch (op) {
      case 'L': case 'WL': case 'ML': case 'WSL': lockdep.acquire(c!); break;
      case 'RSL': lockdep.acquire(c!, { mode: 'read' }); break;
      case 'RL': lockdep.acquire(c!, { mode: 'recursive-read' }); break;
      case 'TL': lockdep.acquire(c!, { try: true }); break;
      case 'TRSL': lockdep.acquire(c!, { mode: 'read', try: true }); break;
      case 'TRL': lockdep.acquire(c!, { mode: 'recursive-read', try: true }); break;
      case 'AL': lockdep.acquire(c!, { wait: 'async' }); break;
      case 'ARL': lockdep.acquire(c!, { mode: 'recursive-read', wait: 'async' }); break;
      case 'SL': lockdep.acquire(c!, { wait: 'sync' }); break;
      case 'U': case 'WU': case 'RU': case 'RSU': case 'MU': case 'WSU': lockdep.release(c!); break;
      case 'SYNC': lockdep.sync(c!); break;
      case 'IL': {
        const inst = instances.get(arg) ?? {};
        instances.set(arg, inst);
        const h = ld.acquire(c!, 'write', { wait: 'sync', instance: inst });
        handles.set(arg, [...(handles.get(arg) ?? []), h]);
        break;
      }
      case 'INIT': ld.freeing(instances.get(arg)!, `lock ${arg}`); break;
      case 'RCU': ld.acquire(c!, 'recursive-read', { wait: 'none', waitContext: 'rcu' }); break;
      case 'AWAIT': ld.mightWait('async', 'await something()'); break;
      case 'BLOCK': ld.mightWait('sync', 'somethingSync()'); break;
      default: assert.fail(`unknown op ${op}`);
    }
  }
  return lockdep.reports();
}

lockdep.enable({ action: 'collect' });

for (const r of rows) {
  test(`${r.expect} ${r.name}: ${r.ops}`, () => {
    const reps = run(r.ops);
    if (r.expect === 'S') {
      assert.deepEqual(reps.map((x) => x.kind), [], reps.map((x) => x.text).join('\n\n'));
    } else {
      assert.ok(reps.length > 0, 'expected a report');
      if (r.kind) assert.ok(reps.some((x) => x.kind === r.kind), `expected a '${r.kind}' report, got ${reps.map((x) => x.kind).join(', ')}`);
    }
  });
}

test('table size (every family ported)', () => {
  assert.ok(rows.length >= 100, `${rows.length} rows`);
  lockdep.reset();
});
