/*
 * Named shared objects: get-or-create by name, the same object from every thread of the domain.
 *
 * An open-addressing hash table in shared memory (layout.ts R_*), keyed by the name. Lookups of an
 * existing name take no lock: R_STATE is published with Atomics.store(READY) after every other
 * field and the object's initialisation are written, and read with Atomics.load, so a reader that
 * sees READY sees the initialised object (the store/load pair is the happens-before edge).
 * Inserts take the registry lock, re-probe under it, then initialise and publish. Names are never
 * removed.
 *
 * The registry lock (H_REGISTRY_LOCK) is a futex word naming its holder: 0 free, else
 * (holder's slot + 1) << 1 | WAITERS. An insert is a few microseconds of plain JS, but
 * worker.terminate() can land anywhere, and a holder stopped inside it would keep every later
 * insert of every thread waiting for good (without going offline, so holding up grace periods
 * too). So a waiter that finds the holder's slot gone (threads.ts holderGone: FREE, or DEAD and not
 * running its own death handlers) takes the lock over with one compareExchange from the word it
 * read. What the cut-short insert did is harmless: it published nothing (R_STATE is stored READY
 * last, and probe() treats a slot that is not READY as empty, so the next insert reuses it), and
 * what it allocated is lost, like the memory of any failed insert. Its plain writes to the
 * half-made entry are not ordered before the taker's (nothing of the dead thread's
 * happens-before the takeover CAS but its own lock CAS), and need not be: the taker writes every
 * field of the entry it publishes, the dead thread can no longer write, and only the taker's
 * Atomics.store of READY publishes, so a reader that sees READY sees the taker's fields. Waiters sleep in 50 ms slices
 * (a death does not notify this word), so a takeover comes within one slice of the death.
 *
 * A second caller whose kind or options differ from the first gets ERR_KIND_MISMATCH.
 */
import { QuiesceError } from '../errors.js';
import type { Allocator } from './alloc.js';
import {
  H_REGISTRY_COUNT,
  H_REGISTRY_LOCK,
  KIND_NAMES,
  REG_WORDS,
  R_HASH,
  R_KIND,
  R_NAME_LEN,
  R_NAME_OFF,
  R_OBJ,
  R_OPTS_HASH,
  R_PCPU,
  R_STATE,
  type Geometry,
  type Kind,
} from './layout.js';

const READY = 1;
/** H_REGISTRY_LOCK: bit 0 set when a waiter may sleep on the word; the rest is the holder's slot + 1. */
const WAITERS = 1;
const LOCK_SLICE_MS = 50;

export function hashString(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

export interface Entry {
  kind: Kind;
  obj: number; // byte offset of the shared header
  pcpu: number; // byte offset of the percpu variables, or -1
  created: boolean; // true for the caller that created it
}

export interface Layout {
  /** Bytes of shared header the object needs (0 for none). */
  headerBytes: number;
  /** Bytes of percpu variables per thread (0 for none). */
  percpuBytes: number;
  /** Initialise a new object (under the registry lock, before it is published). */
  init?(obj: number, pcpu: number): void;
}

export class Registry {
  constructor(
    private readonly i32: Int32Array,
    private readonly g: Geometry,
    private readonly alloc: Allocator,
    private readonly domainName: () => string,
    /** This thread's slot (named objects are created by attached threads only). */
    private readonly mySlot: () => number,
    /** threads.ts holderGone: the thread in slot `t` will never run again. */
    private readonly holderGone: (t: number) => boolean,
  ) {}

  /** Take the registry lock (see the header); a holder that is gone loses it to us. */
  private lock(): void {
    const i32 = this.i32;
    const me = (this.mySlot() + 1) << 1;
    let v = Atomics.compareExchange(i32, H_REGISTRY_LOCK, 0, me);
    while (v !== 0) {
      const holder = (v >> 1) - 1;
      if (holder >= 0 && holder < this.g.maxThreads && this.holderGone(holder)) {
        // Its insert was cut short: take the lock over, keeping WAITERS (others may sleep on it).
        if (Atomics.compareExchange(i32, H_REGISTRY_LOCK, v, me | (v & WAITERS)) === v) return;
      } else if ((v & WAITERS) !== 0 || Atomics.compareExchange(i32, H_REGISTRY_LOCK, v, v | WAITERS) === v) {
        Atomics.wait(i32, H_REGISTRY_LOCK, v | WAITERS, LOCK_SLICE_MS);
      }
      // Once we have slept, others may be sleeping too: take it with WAITERS set, so our unlock wakes them.
      v = Atomics.compareExchange(i32, H_REGISTRY_LOCK, 0, me | WAITERS);
    }
  }
  private unlock(): void {
    if ((Atomics.exchange(this.i32, H_REGISTRY_LOCK, 0) & WAITERS) !== 0) Atomics.notify(this.i32, H_REGISTRY_LOCK);
  }

  private entryWord(i: number): number {
    return this.g.registryBase + i * REG_WORDS;
  }

  /** Probe for `name`; returns the entry index, or -(free slot index)-1 if absent. */
  private probe(name: string, hash: number): number {
    const cap = this.g.registryCap;
    for (let n = 0, i = hash & (cap - 1); n < cap; n++, i = (i + 1) & (cap - 1)) {
      const w = this.entryWord(i);
      if (Atomics.load(this.i32, w + R_STATE) !== READY) return -i - 1;
      if (this.i32[w + R_HASH] === hash && this.alloc.readString(this.i32[w + R_NAME_OFF]!, this.i32[w + R_NAME_LEN]!) === name) return i;
    }
    return -cap - 1;
  }

  private check(i: number, kind: Kind, name: string, optsHash: number): Entry {
    const w = this.entryWord(i);
    const have = this.i32[w + R_KIND] as Kind;
    if (have !== kind) {
      throw new QuiesceError(
        'ERR_KIND_MISMATCH',
        `Domain '${this.domainName()}': '${name}' is a ${KIND_NAMES[have]}, not a ${KIND_NAMES[kind]}`,
      );
    }
    if (this.i32[w + R_OPTS_HASH] !== optsHash) {
      throw new QuiesceError(
        'ERR_KIND_MISMATCH',
        `${KIND_NAMES[kind]} '${name}': options differ from those it was created with`,
      );
    }
    return { kind, obj: this.i32[w + R_OBJ]!, pcpu: this.i32[w + R_PCPU]!, created: false };
  }

  getOrCreate(kind: Kind, name: string, optsHash: number, layout: Layout): Entry {
    const hash = hashString(name);
    let i = this.probe(name, hash);
    if (i >= 0) return this.check(i, kind, name, optsHash);
    this.lock();
    try {
      i = this.probe(name, hash);
      if (i >= 0) return this.check(i, kind, name, optsHash);
      const slot = -i - 1;
      if (slot >= this.g.registryCap || Atomics.load(this.i32, H_REGISTRY_COUNT) >= (this.g.registryCap * 3) >> 2) {
        throw new QuiesceError(
          'ERR_OUT_OF_SHARED_MEMORY',
          `Domain '${this.domainName()}': the named-object table is full (${this.g.registryCap} entries, ` +
            `domain size ${this.g.bytes} bytes; pass a larger 'bytes' to Domain.create)`,
        );
      }
      // All or nothing: an object that does not fit takes none of the three (alloc.ts header).
      this.alloc.fits(layout.headerBytes, layout.percpuBytes, name);
      const obj = layout.headerBytes > 0 ? this.alloc.heapAlloc(layout.headerBytes) : -1;
      const pcpu = layout.percpuBytes > 0 ? this.alloc.percpuAlloc(layout.percpuBytes) : -1;
      const str = this.alloc.stringAlloc(name);
      layout.init?.(obj, pcpu);
      const w = this.entryWord(slot);
      this.i32[w + R_HASH] = hash;
      this.i32[w + R_KIND] = kind;
      this.i32[w + R_NAME_OFF] = str.off;
      this.i32[w + R_NAME_LEN] = str.len;
      this.i32[w + R_OPTS_HASH] = optsHash;
      this.i32[w + R_OBJ] = obj;
      this.i32[w + R_PCPU] = pcpu;
      Atomics.add(this.i32, H_REGISTRY_COUNT, 1);
      Atomics.store(this.i32, w + R_STATE, READY); // publish: pairs with the Atomics.load in probe()
      return { kind, obj, pcpu, created: true };
    } finally {
      this.unlock();
    }
  }

  /** The kind and options hash of the object named `name`, or null if there is none. Creates nothing, takes no lock. */
  find(name: string): { kind: Kind; optsHash: number } | null {
    const i = this.probe(name, hashString(name));
    if (i < 0) return null;
    const w = this.entryWord(i);
    return { kind: this.i32[w + R_KIND] as Kind, optsHash: this.i32[w + R_OPTS_HASH]! };
  }

  /** Every published object of `kind` (used by thread-death handling). */
  forEach(kind: Kind, fn: (name: string, obj: number, pcpu: number) => void): void {
    for (let i = 0; i < this.g.registryCap; i++) {
      const w = this.entryWord(i);
      if (Atomics.load(this.i32, w + R_STATE) !== READY || this.i32[w + R_KIND] !== kind) continue;
      fn(this.alloc.readString(this.i32[w + R_NAME_OFF]!, this.i32[w + R_NAME_LEN]!), this.i32[w + R_OBJ]!, this.i32[w + R_PCPU]!);
    }
  }
}
