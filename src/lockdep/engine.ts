/*
 * PLACEHOLDER engine: interns classes and keeps the hooks callable. The real validator replaces
 * this file (same exported `engine` shape).
 */
import type { LockClass, LockMode, AcquireOptions, HeldLock, HeldLockToken, ReportKind, WaitKind } from './hooks.js';

const classes = new Map<string, LockClass>();

export const engine = {
  classFor(name: string): LockClass {
    let c = classes.get(name);
    if (!c) {
      c = { name, id: classes.size + 1 };
      classes.set(name, c);
    }
    return c;
  },
  acquire(cls: LockClass, mode: LockMode, _opts: AcquireOptions): HeldLock {
    return { cls, mode };
  },
  abandon(_h: HeldLock): void {},
  release(_h: HeldLock): void {},
  sync(_cls: LockClass, _wait: WaitKind, _instance?: object): void {},
  mightWait(_wait: 'sync' | 'async', _what: string): void {},
  handoff(h: HeldLock): HeldLockToken {
    return { cls: h.cls.name, mode: h.mode };
  },
  adopt(t: HeldLockToken, _instance?: object): HeldLock {
    return { cls: this.classFor(t.cls), mode: t.mode };
  },
  freeing(_instance: object, _what: string): void {},
  isHeld(_cls: LockClass, _mode?: 'read' | 'write'): boolean {
    return false;
  },
  report(_kind: ReportKind, _classes: string[], _text: string): void {},
};
