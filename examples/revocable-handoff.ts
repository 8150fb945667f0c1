/*
 * Revocable (seed 003): try-begin-read, hand the read side to another thread ("exit reader"),
 * end it there ("re-enter reader", then release); the revoker fences every reader wherever it is,
 * then destroys the object.
 *
 *   node dist/examples/revocable-handoff.js
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { Domain, type Access, type HandoffToken } from 'quiesce';

if (isMainThread) {
  const domain = Domain.create({ name: 'revocable-example' });
  const device = domain.revocable('device');
  const worker = domain.spawn(new URL(import.meta.url));
  await new Promise((r) => worker.once('message', r));

  const access = device.tryAccess()!; // begin an I/O on this thread...
  worker.postMessage(access.handoff().token); // ...and let the worker complete it

  const t0 = performance.now();
  const revoked = device.revoke({ timeoutMs: 5000 });
  console.log(`new access after revoke began: ${device.tryAccess() === null ? 'refused' : 'ALLOWED'}`);
  await revoked; // resolves only once the worker released the handed-off access
  console.log(`revoke waited ${performance.now() - t0 >= 90 ? 'for' : 'WITHOUT'} the access held in the worker; safe to destroy`);
  await worker.terminate();
} else {
  const domain = Domain.attach();
  parentPort!.postMessage('ready');
  parentPort!.once('message', (token: HandoffToken) => {
    const access = domain.adopt(token) as Access; // now owned by this thread
    setTimeout(() => access.release(), 100); // the I/O completes here
  });
}
