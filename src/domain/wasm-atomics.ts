/*
 * Word atomics on a domain's memory, as WebAssembly instructions (the "arch" atomics of quiesce).
 *
 * Why. Node 20's V8 never inlines the Atomics builtins: every Atomics.load/store/add/
 * compareExchange is a call into a builtin that re-checks its typed array, about 12-19 ns here,
 * against ~1 ns for a plain access. Where a loop does several per item (PercpuRef.killAll: seven
 * per ref, kill-all.ts), those calls are most of its time. A domain's buffer is the buffer of a
 * shared WebAssembly.Memory (domain.ts), so a four-function wasm module instantiated on that memory
 * can do the same operations with one locked instruction each; TurboFan inlines the JS-to-wasm
 * call wrapper into optimised callers. Measured on a loop of killAll's seven operations over
 * 10,000 headers: 0.29-0.39 ms against 0.78-0.80 ms with Atomics.
 *
 * What. Four functions on WORD indices (the unit of every offset in layout.ts), each the wasm
 * instruction of the same name with natural alignment:
 *     load(w)         i32.atomic.load           = Atomics.load(i32, w)
 *     store(w, v)     i32.atomic.store          = Atomics.store(i32, w, v) (returns nothing)
 *     add(w, v)       i32.atomic.rmw.add        = Atomics.add(i32, w, v) (the old value)
 *     cas(w, e, n)    i32.atomic.rmw.cmpxchg    = Atomics.compareExchange(i32, w, e, n)
 * Values are int32 both ways (ToInt32 on the way in, a signed result), as an Int32Array gives.
 * An index outside the memory traps (WebAssembly.RuntimeError); callers pass header words only.
 *
 * Memory model. The ECMAScript memory model covers WebAssembly: a wasm atomic access to a shared
 * memory is a SeqCst event on the same shared block as an Atomics access to the memory's buffer,
 * so a cas() here and an Atomics.compareExchange() on another thread on the same word are ordered
 * exactly as two Atomics calls would be, and every "Atomics pair" argument in quiesce's file headers
 * holds unchanged for these functions. Atomics.wait/notify stay JS: they only need the buffer.
 *
 * The module is assembled below from its instructions (no toolchain, nothing generated): the
 * text form is
 *     (module (import "q" "m" (memory 1 65536 shared))
 *       (func (export "load") (param i32) (result i32)
 *         (i32.atomic.load (i32.shl (local.get 0) (i32.const 2))))
 *       (func (export "store") (param i32 i32)
 *         (i32.atomic.store (i32.shl (local.get 0) (i32.const 2)) (local.get 1)))
 *       (func (export "add") (param i32 i32) (result i32)
 *         (i32.atomic.rmw.add (i32.shl (local.get 0) (i32.const 2)) (local.get 1)))
 *       (func (export "cas") (param i32 i32 i32) (result i32)
 *         (i32.atomic.rmw.cmpxchg (i32.shl (local.get 0) (i32.const 2)) (local.get 1) (local.get 2))))
 * It is compiled once per process and instantiated once per domain core, on first use.
 */

/** Word-indexed atomic operations on one domain's memory (see the header). */
export interface WordAtomics {
  load(w: number): number;
  store(w: number, v: number): void;
  add(w: number, v: number): number;
  cas(w: number, expected: number, replacement: number): number;
}

// ---- the module's bytes (WebAssembly binary format, core spec 5 + threads proposal) ----------
const I32 = 0x7f;
const FUNC_TYPE = 0x60;
const LOCAL_GET = 0x20;
const I32_CONST = 0x41;
const I32_SHL = 0x74;
const ATOMIC = 0xfe; // the threads proposal's opcode prefix
const END = 0x0b;
/** memarg: log2 alignment 2 (natural for i32), offset 0. */
const MEMARG = [0x02, 0x00];
/** The byte address of word index local 0. */
const ADDR = [LOCAL_GET, 0, I32_CONST, 2, I32_SHL];

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

interface Fn {
  name: keyof WordAtomics;
  params: number;
  result: boolean;
  body: number[];
}
const FNS: Fn[] = [
  { name: 'load', params: 1, result: true, body: [...ADDR, ATOMIC, 0x10, ...MEMARG] },
  { name: 'store', params: 2, result: false, body: [...ADDR, LOCAL_GET, 1, ATOMIC, 0x17, ...MEMARG] },
  { name: 'add', params: 2, result: true, body: [...ADDR, LOCAL_GET, 1, ATOMIC, 0x1e, ...MEMARG] },
  { name: 'cas', params: 3, result: true, body: [...ADDR, LOCAL_GET, 1, LOCAL_GET, 2, ATOMIC, 0x48, ...MEMARG] },
];

/** A function body: no locals, the instructions, `end`; prefixed by its size. */
function code(body: number[]): number[] {
  const bytes = [0, ...body, END];
  return [...uleb(bytes.length), ...bytes];
}

function moduleBytes(): Uint8Array {
  const types = FNS.map((f) => [FUNC_TYPE, ...vec(Array.from({ length: f.params }, () => [I32])), ...(f.result ? [1, I32] : [0])]);
  const MEMORY = 0x02;
  const SHARED_WITH_MAX = 0x03; // limits flags: a maximum is present, and the memory is shared
  const imports = [[...name('q'), ...name('m'), MEMORY, SHARED_WITH_MAX, ...uleb(1), ...uleb(65536)]];
  const FUNC = 0x00;
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec(types)), // one type per function, in order
    ...section(2, vec(imports)),
    ...section(3, vec(FNS.map((_, i) => uleb(i)))), // function i has type i
    ...section(7, vec(FNS.map((f, i) => [...name(f.name), FUNC, ...uleb(i)]))),
    ...section(10, vec(FNS.map((f) => code(f.body)))),
  ]);
}

/*
 * The WebAssembly API, declared here for this file alone: @types/node 20 does not declare it, and
 * no WebAssembly type may reach quiesce's published declarations (a user's project need not have
 * the DOM lib), so the rest of quiesce sees a domain's memory as an opaque `object` (or null: a
 * domain made without WebAssembly, whose word atomics are the Atomics calls themselves).
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  Memory: { new (d: { initial: number; maximum: number; shared: boolean }): WasmMemory; prototype: WasmMemory };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { readonly exports: Record<string, unknown> };
}
/** Absent under `node --jitless` (no WebAssembly at all): then a domain is a plain SharedArrayBuffer. */
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** WebAssembly's page: a memory's size is a whole number of them. */
const PAGE = 65536;

/**
 * A new shared memory of at least `bytes` bytes (rounded up to whole 64 KiB pages, and never
 * growing: its buffer stays the same SharedArrayBuffer for ever), and that buffer. Without
 * WebAssembly (or if it refuses the memory), a plain SharedArrayBuffer of `bytes` and memory null.
 */
export function newSharedMemory(bytes: number): { memory: object | null; sab: SharedArrayBuffer } {
  if (wasm !== undefined) {
    const pages = Math.ceil(bytes / PAGE);
    try {
      const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
      return { memory, sab: memory.buffer as SharedArrayBuffer };
    } catch {
      // e.g. out of address space for another memory: the plain buffer works the same, slower
    }
  }
  return { memory: null, sab: new SharedArrayBuffer(bytes) };
}

/** The buffer of `memory` if it is a shared WebAssembly.Memory (e.g. one received in a handle), else null. */
export function sharedBufferOf(memory: unknown): SharedArrayBuffer | null {
  if (wasm === undefined || memory === null || typeof memory !== 'object') return null;
  let buffer: unknown;
  try {
    buffer = Reflect.get(wasm.Memory.prototype, 'buffer', memory); // throws unless a Memory
  } catch {
    return null;
  }
  return buffer instanceof SharedArrayBuffer ? buffer : null;
}

let compiled: object | null = null;

/**
 * The four operations on a domain's memory: as wasm instructions on `memory` (a shared
 * WebAssembly.Memory whose buffer is `sab`), or, if memory is null, as the Atomics calls they
 * stand for on `sab`.
 */
export function wordAtomics(memory: object | null, sab: SharedArrayBuffer): WordAtomics {
  if (memory === null || wasm === undefined) {
    const i32 = new Int32Array(sab);
    return {
      load: (w) => Atomics.load(i32, w),
      store: (w, v) => void Atomics.store(i32, w, v),
      add: (w, v) => Atomics.add(i32, w, v),
      cas: (w, e, n) => Atomics.compareExchange(i32, w, e, n),
    };
  }
  compiled ??= new wasm.Module(moduleBytes());
  const x = new wasm.Instance(compiled, { q: { m: memory } }).exports as unknown as WordAtomics;
  // The exported functions themselves (not wrappers): the calls are what TurboFan inlines.
  return { load: x.load, store: x.store, add: x.add, cas: x.cas };
}
