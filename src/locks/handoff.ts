/*
 * Handing a held read side to another async context or thread (seed 003: "exit reader" /
 * "re-enter reader").
 *
 * guard.handoff() detaches the read side from its guard and from the current lockdep context and
 * returns a structured-cloneable token; domain.adopt(token), in any context of any thread of the
 * domain, returns a new guard that owns the read side there (and holds it for lockdep there).
 * The read side itself never stops being held: a revoke or writer keeps waiting for it.
 *
 * A token can be adopted exactly once. Each handoff claims one word of the domain's handoff table
 * (layout.ts handoffBase) with compareExchange(0 -> seal), a random non-zero value the token
 * carries; adopt() claims it back with compareExchange(seal -> 0). Whoever wins owns the read
 * side; a second adopt of the same token, on any thread, loses and throws ERR_NOT_OWNER. The seal
 * (not a bare 1) is what keeps a spent token spent once a later handoff reuses its word, and a
 * token from another domain from redeeming a handoff that happens to use the same word here
 * (both would otherwise take a read side that is not theirs; a collision needs the same 31-bit
 * random value). The table word's CAS pair is also the happens-before edge from the handing
 * context to the adopting one.
 */
import { QuiesceError } from '../errors.js';
import type { DomainCore } from '../domain/core.js';
import { H_HANDOFF_HINT } from '../domain/layout.js';
import { ld, type HeldLock, type HeldLockToken } from '../lockdep/hooks.js';

/** Structured-cloneable: postMessage it to another thread, or keep it for another async task. */
export interface HandoffToken {
  readonly kind: 'quiesce.handoff';
  /** 'RwSem' | 'PercpuRwSem' | 'Revocable' */
  readonly objectKind: string;
  readonly name: string;
  /** The object's lockdep class (needed to find/create it on a thread that has not used it). */
  readonly class: string;
  /** Index in the domain's handoff table. */
  readonly slot: number;
  /** The value the table word holds while this token is in transit (see the header). */
  readonly seal: number;
  /** Object-specific data (e.g. which SRCU-like index the read side uses). */
  readonly data: number;
  readonly lockdep: HeldLockToken | null;
}

export interface Handoff {
  readonly token: HandoffToken;
}

/** Claim a handoff-table word for a new token. */
export function claimHandoffSlot(core: DomainCore, what: string): number {
  const { i32, g } = core;
  // The hint wraps (an Int32 bumped once per handoff): read it unsigned, or after 2^31 handoffs
  // `start % cap` goes negative and the claim lands before the table (the registry).
  const start = Atomics.add(i32, H_HANDOFF_HINT, 1) >>> 0;
  const seal = 1 + Math.floor(Math.random() * 0x7ffffffe);
  for (let n = 0; n < g.handoffCap; n++) {
    const i = (start + n) % g.handoffCap;
    if (Atomics.compareExchange(i32, g.handoffBase + i, 0, seal) === 0) return i;
  }
  throw new QuiesceError('ERR_OUT_OF_SHARED_MEMORY', `${what}: more than ${g.handoffCap} read sides are in transit in domain '${core.name}'`);
}

/** Take ownership of a token's read side. Throws ERR_NOT_OWNER if it was adopted already. */
export function redeemHandoffSlot(core: DomainCore, token: HandoffToken): void {
  const { slot, seal } = token;
  if (!Number.isInteger(slot) || slot < 0 || slot >= core.g.handoffCap || !Number.isInteger(seal) || seal <= 0) {
    throw new QuiesceError('ERR_BAD_HANDLE', `${token.objectKind} '${token.name}': corrupt handoff token`);
  }
  if (Atomics.compareExchange(core.i32, core.g.handoffBase + slot, seal, 0) !== seal) {
    throw new QuiesceError('ERR_NOT_OWNER', `${token.objectKind} '${token.name}': this handoff token was already adopted (or is not from domain '${core.name}')`);
  }
}

export function isHandoffToken(t: unknown): t is HandoffToken {
  return t !== null && typeof t === 'object' && (t as HandoffToken).kind === 'quiesce.handoff';
}

/**
 * handoff(), second half: take the lockdep hold out of this context and build the token around
 * the table word `slot` of `core` the caller has already claimed (claimHandoffSlot, via
 * Guard.moveOut): the word holds the seal, and only this context knows it until the token exists.
 * The caller then moves its own bookkeeping (the read side itself stays held throughout).
 */
export function makeHandoffToken(core: DomainCore, objectKind: string, name: string, cls: string, held: HeldLock | null, slot: number): HandoffToken {
  const seal = Atomics.load(core.i32, core.g.handoffBase + slot);
  return Object.freeze({ kind: 'quiesce.handoff', objectKind, name, class: cls, slot, seal, data: 0, lockdep: held && ld.on ? ld.handoff(held) : null });
}

/** adopt: the token must be for this object (ERR_BAD_HANDLE), and not adopted before (ERR_NOT_OWNER). */
export function takeHandoffToken(core: DomainCore, token: HandoffToken, objectKind: string, name: string, what: string): void {
  if (!isHandoffToken(token) || token.objectKind !== objectKind || token.name !== name) {
    throw new QuiesceError('ERR_BAD_HANDLE', `${what}: this handoff token is not for it (it is for ${isHandoffToken(token) ? `${String(token.objectKind)} '${String(token.name)}'` : 'nothing'})`);
  }
  redeemHandoffSlot(core, token);
}
