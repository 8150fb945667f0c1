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
 * Each top is advanced with Atomics.add; the region was zero-filled at creation and is never
 * reused, so a fresh allocation is all zeroes. Overflow throws ERR_OUT_OF_SHARED_MEMORY (the top is
 * left past the end; later calls fail the same way).
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

  heapAlloc(bytes: number): number {
    const size = Math.ceil(bytes / CACHE_LINE_BYTES) * CACHE_LINE_BYTES;
    const off = Atomics.add(this.i32, H_HEAP_TOP, size);
    if (off + size > this.g.heapEnd) throw this.oom('object heap', bytes, this.g.heapEnd - this.g.heapBase);
    return off;
  }

  percpuAlloc(bytes: number): number {
    const size = Math.ceil(bytes / 4) * 4;
    const off = Atomics.add(this.i32, H_PERCPU_TOP, size);
    if (off + size > this.g.percpuStride) throw this.oom('per-thread area', bytes, this.g.percpuStride);
    return off;
  }

  stringAlloc(s: string): { off: number; len: number } {
    const bytes = encoder.encode(s);
    const off = Atomics.add(this.i32, H_STRINGS_TOP, bytes.length);
    if (off + bytes.length > this.g.stringsEnd) throw this.oom('name strings', bytes.length, this.g.stringsEnd - this.g.stringsBase);
    this.u8.set(bytes, off);
    return { off, len: bytes.length };
  }

  readString(off: number, len: number): string {
    // TextDecoder refuses views on a SharedArrayBuffer: copy out first.
    return decoder.decode(this.u8.slice(off, off + len));
  }
}
