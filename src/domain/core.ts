/*
 * DomainCore: this thread's view of one domain's shared memory. Internal; primitives hold one.
 *
 * It bundles the typed views of the buffer, the geometry (layout.ts), the allocators, the named
 * object registry, the thread registry and this thread's slot. Public API lives in domain.ts.
 */
import { QuiesceError } from '../errors.js';
import { Allocator } from './alloc.js';
import { H_NAME_LEN, H_NAME_OFF, type Geometry, type Kind } from './layout.js';
import { Registry } from './registry.js';
import { Threads } from './threads.js';

export type DeathHandler = (core: DomainCore, deadSlot: number, name: string, obj: number, pcpu: number) => void;
const deathHandlers = new Map<Kind, DeathHandler>();

/** A primitive kind that must react to a thread's death (e.g. a robust mutex waking its waiters). */
export function onThreadDeath(kind: Kind, h: DeathHandler): void {
  deathHandlers.set(kind, h);
}

export class DomainCore {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly alloc: Allocator;
  readonly registry: Registry;
  readonly threads: Threads;
  /** This thread's slot; -1 once detached. */
  slot = -1;
  gen = 0;
  /**
   * This thread's rcu.call() in this domain while attached (set by Domain), else null: a death
   * handler running on a live thread queues work behind a grace period with it.
   */
  rcuCall: ((fn: () => void) => void) | null = null;
  private cachedName: string | undefined;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly g: Geometry,
  ) {
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    const name = (): string => this.name;
    this.alloc = new Allocator(this.i32, this.u8, g, name);
    this.threads = new Threads(this.i32, g, name);
    this.registry = new Registry(this.i32, g, this.alloc, name, () => this.slot, (t) => this.threads.holderGone(t));
  }

  get name(): string {
    return (this.cachedName ??= this.alloc.readString(this.i32[H_NAME_OFF]!, this.i32[H_NAME_LEN]!));
  }

  get attached(): boolean {
    return this.slot >= 0;
  }

  /** Throws ERR_NOT_ATTACHED (naming `what`) if this thread has left the domain. */
  checkAttached(what: string): void {
    if (this.slot < 0) {
      throw new QuiesceError('ERR_NOT_ATTACHED', `${what}: this thread is not attached to domain '${this.name}' (it called detach())`);
    }
  }

  /** Called on the thread that saw `slot` die: run every kind's death handler over its objects. */
  handleDeath(slot: number): void {
    for (const [kind, h] of deathHandlers) {
      this.registry.forEach(kind, (name, obj, pcpu) => h(this, slot, name, obj, pcpu));
    }
  }
}
