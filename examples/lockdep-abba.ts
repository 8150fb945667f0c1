/*
 * lockdep: an A->B order in one async task and B->A in another is reported the first time it is
 * seen, although the two never overlap and nothing hangs.
 *
 *   node dist/examples/lockdep-abba.js
 */
import { Domain, lockdep } from 'quiesce';

lockdep.enable({ action: 'collect' });
const domain = Domain.create({ name: 'lockdep-example' });
const accounts = domain.mutex('accounts');
const audit = domain.mutex('audit');

async function transfer(): Promise<void> {
  await accounts.withLock(() => audit.withLock(() => {}));
}
async function report(): Promise<void> {
  await audit.withLock(() => accounts.withLock(() => {}));
}
await transfer();
await report(); // never overlaps transfer() here; in production it will, one day

const [r] = lockdep.reports();
console.log(`${r?.kind}: ${r?.classes.join(' -> ')}`);
console.log(r?.text.split('\n').slice(0, 3).join('\n'));
