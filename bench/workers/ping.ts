/* Bench worker: attaches to the domain (so grace periods include it) and answers pings. */
import { parentPort } from 'node:worker_threads';
import { Domain } from '../../src/index.js';

Domain.attach();
parentPort!.on('message', (m: unknown) => parentPort!.postMessage(m));
parentPort!.postMessage('ready');
