/*
 * The two allocators of a domain, both lock-free bump allocators (objects live as long as the
 * domain; named objects are never freed, like the kernel's static locks):
 *
 *  - heapAlloc(bytes): a shared object header, rounded up to a 64-byte cache line so two objects
 *    never share a line (a hot mutex word must not bounce with its neighbour's).
 *  - percpuAlloc(bytes): the kernel's percpu allocator. Returns ONE byte offset, valid in every
 *    thread's area (layout.ts percpuWord). 4-byte granularity: a PercpuRef costs 4 bytes/thread.
 *  - stringAlloc(s): UTF-8 names for the registry.
 *
 * Each top is advanced with a compareExchange loop that never moves it past the end of its region;
 * the region was zero-filled at creation and is never reused, so a fresh allocation is all zeroes.
 * Overflow throws ERR_OUT_OF_SHARED_MEMORY and changes nothing: a later, smaller request that fits
 * still succeeds. A named object needs all three: the registry calls fits() for the lot before
 * allocating any, under its insert lock (the only place that allocates once the buffer is shared),
 * so an object that does not fit leaks none of them.
 */
import { QuiesceError } from '../errors.js';
import { CACHE_LINE_BYTES, H_HEAP_TOP, H_PERCPU_TOP, H_STRINGS_TOP, type Geometry } from './layout.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Allocator {
  constructor(
    private readonly i32: Int32Array,
    private readonly u8: Uint8Array,
    private readonly g: Geometry,
    private readonly domainName: () => string,
  ) {}

  private oom(what: string, bytes: number, capacity: number): QuiesceError {
    return new QuiesceError(
      'ERR_OUT_OF_SHARED_MEMORY',
      `Domain '${this.domainName()}': out of shared memory allocating ${bytes} bytes of ${what} ` +
        `(${capacity} bytes in that region, domain size ${this.g.bytes} bytes; pass a larger 'bytes' to Domain.create)`,
      { domain: this.domainName(), bytes, region: what, capacity },
    );
  }

  /** Advance the atomic top `top` by `size` unless that passes `end`; the old top, or -1. */
  private bump(top: number, size: number, end: number): number {
    for (;;) {
      const off = Atomics.load(this.i32, top);
      if (off + size > end) return -1;
      if (Atomics.compareExchange(this.i32, top, off, off + size) === off) return off;
    }
  }

  private static heapSize(bytes: number): number {
    return Math.ceil(bytes / CACHE_LINE_BYTES) * CACHE_LINE_BYTES;
  }
  private static percpuSize(bytes: number): number {
    return Math.ceil(bytes / 4) * 4;
  }

  /**
   * Throws the ERR_OUT_OF_SHARED_MEMORY that heapAlloc(headerBytes), percpuAlloc(percpuBytes) or
   * stringAlloc(name) would throw, without allocating anything (0 bytes: that part not needed).
   */
  fits(headerBytes: number, percpuBytes: number, name: string): void {
    const { i32, g } = this;
    const hs = Allocator.heapSize(headerBytes);
    if (headerBytes > 0 && Atomics.load(i32, H_HEAP_TOP) + hs > g.heapEnd) throw this.oom('object heap', headerBytes, g.heapEnd - g.heapBase);
    const ps = Allocator.percpuSize(percpuBytes);
    if (percpuBytes > 0 && Atomics.load(i32, H_PERCPU_TOP) + ps > g.percpuStride) throw this.oom('per-thread area', percpuBytes, g.percpuStride);
    const sl = encoder.encode(name).length;
    if (Atomics.load(i32, H_STRINGS_TOP) + sl > g.stringsEnd) throw this.oom('name strings', sl, g.stringsEnd - g.stringsBase);
  }

  heapAlloc(bytes: number): number {
    const off = this.bump(H_HEAP_TOP, Allocator.heapSize(bytes), this.g.heapEnd);
    if (off < 0) throw this.oom('object heap', bytes, this.g.heapEnd - this.g.heapBase);
    return off;
  }

  percpuAlloc(bytes: number): number {
    const off = this.bump(H_PERCPU_TOP, Allocator.percpuSize(bytes), this.g.percpuStride);
    if (off < 0) throw this.oom('per-thread area', bytes, this.g.percpuStride);
    return off;
  }

  stringAlloc(s: string): { off: number; len: number } {
    const bytes = encoder.encode(s);
    const off = this.bump(H_STRINGS_TOP, bytes.length, this.g.stringsEnd);
    if (off < 0) throw this.oom('name strings', bytes.length, this.g.stringsEnd - this.g.stringsBase);
    this.u8.set(bytes, off);
    return { off, len: bytes.length };
  }

  readString(off: number, len: number): string {
    // TextDecoder refuses views on a SharedArrayBuffer: copy out first.
    return decoder.decode(this.u8.slice(off, off + len));
  }
}
