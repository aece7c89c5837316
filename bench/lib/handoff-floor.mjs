// The floor under a tool call that crosses threads (B2 on the pool): the round trip of one
// small message from a worker thread to the main thread and back, with no QuickJS and no
// broker in it, measured two ways:
//   - `port`: both sides event-driven (the worker's `message` listener, the main thread's);
//   - `wait`: as the pool's worker does it: it posts, then sleeps in `Atomics.wait` until the
//     main thread's answer rings its bell, and takes the answer with `receiveMessageOnPort`.
//   node bench/lib/handoff-floor.mjs
// Prints one JSON line { portUs, waitUs, rounds } (µs per round trip, the median of 7 runs).
import { MessageChannel, Worker } from 'node:worker_threads';

const N = 20_000;
const RUNS = 7;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const WORKER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const { port, bell, mode } = workerData;
const cell = new Int32Array(bell);
parentPort.on('message', ({ n }) => {
  if (mode === 'wait') {
    let seen = Atomics.load(cell, 0);
    for (let i = 0; i < n; i++) {
      port.postMessage(i);
      Atomics.wait(cell, 0, seen);
      seen = Atomics.load(cell, 0);
      receiveMessageOnPort(port);
    }
    parentPort.postMessage('done');
    return;
  }
  let i = 0;
  port.on('message', () => {
    if (++i < n) port.postMessage(i);
    else { port.removeAllListeners('message'); parentPort.postMessage('done'); }
  });
  port.postMessage(0);
});
`;

async function measure(mode) {
  const { port1, port2 } = new MessageChannel();
  const bell = new SharedArrayBuffer(4);
  const cell = new Int32Array(bell);
  const worker = new Worker(WORKER, { eval: true, workerData: { port: port2, bell, mode }, transferList: [port2] });
  port1.on('message', (m) => {
    port1.postMessage(m);
    if (mode === 'wait') {
      Atomics.add(cell, 0, 1);
      Atomics.notify(cell, 0);
    }
  });
  const run = (n) =>
    new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ n });
    });
  await run(2_000);
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await run(N);
    runs.push(((performance.now() - t0) * 1000) / N);
  }
  port1.close();
  await worker.terminate();
  return median(runs);
}

const portUs = await measure('port');
const waitUs = await measure('wait');
process.stdout.write(`${JSON.stringify({ portUs, waitUs, rounds: N })}\n`);
