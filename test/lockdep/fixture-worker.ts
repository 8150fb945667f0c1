/*
 * Worker fixture for crossthread.test.ts: takes workerData.order (class names) nested with the
 * annotation API, tells the parent, then waits for 'quit' (or exits at once holding its locks when
 * workerData.exitHolding is set).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lockdep } from '../../src/lockdep/index.js';

const { order, exitHolding } = workerData as { order: string[]; exitHolding?: boolean };
lockdep.enable({ action: 'collect' });
const classes = order.map((n) => lockdep.lockClass(n));
for (const c of classes) lockdep.acquire(c);
if (!exitHolding) for (const c of [...classes].reverse()) lockdep.release(c);
parentPort!.postMessage('done');
if (!exitHolding) parentPort!.once('message', () => process.exit(0));
