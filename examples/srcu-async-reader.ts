/*
 * SRCU: a read section that spans `await`. synchronize() waits for it.
 *
 *   node dist/examples/srcu-async-reader.js
 */
import { Domain } from 'quiesce';

const domain = Domain.create({ name: 'srcu-example' });
const srcu = domain.srcu('sessions');
const log: string[] = [];

const reader = srcu.read(async () => {
  log.push('reader: inside');
  await new Promise((r) => setTimeout(r, 50)); // suspended inside the read section
  log.push('reader: leaving');
});
await srcu.synchronize(); // does not return while the reader is inside
log.push('updater: grace period over');
await reader;
console.log(log.join('\n'));
