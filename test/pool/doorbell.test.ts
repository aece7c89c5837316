import { MessageChannel, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Doorbell } from '../../src/pool/doorbell.node.js';

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

function setup() {
  const channel = new MessageChannel();
  channels.push(channel);
  const cells = new Int32Array(new SharedArrayBuffer(8));
  return { channel, cells, sender: new Doorbell(cells, 1), receiver: new Doorbell(cells, 1) };
}

describe('Doorbell', () => {
  it('reads the queue only after the bell rang', () => {
    const { channel, sender, receiver } = setup();
    channel.port1.postMessage('a');
    // Posted but not rung: the receiver does not look at the queue.
    expect(receiver.receive(channel.port2)).toBeUndefined();
    sender.ring();
    expect(receiver.receive(channel.port2)).toEqual({ message: 'a' });
    expect(receiver.receive(channel.port2)).toBeUndefined();
    // The queue was found empty at this ring: a message posted without a new ring is not read.
    channel.port1.postMessage('b');
    expect(receiver.receive(channel.port2)).toBeUndefined();
    sender.ring();
    expect(receiver.receive(channel.port2)).toEqual({ message: 'b' });
  });

  it('reads every message of several rings in order', () => {
    const { channel, sender, receiver } = setup();
    for (const m of [1, 2, 3]) {
      channel.port1.postMessage(m);
      sender.ring();
    }
    const got: unknown[] = [];
    for (let r = receiver.receive(channel.port2); r; r = receiver.receive(channel.port2)) got.push(r.message);
    expect(got).toEqual([1, 2, 3]);
  });

  it('uses its own cell: the other direction does not ring it', () => {
    const { channel, cells, receiver } = setup();
    channel.port1.postMessage('x');
    new Doorbell(cells, 0).ring();
    expect(receiver.receive(channel.port2)).toBeUndefined();
  });

  it('sees a ring from another thread and then its message', async () => {
    const { channel, cells } = setup();
    const receiver = new Doorbell(cells, 0);
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const cells = new Int32Array(workerData.bells);
       for (let i = 0; i < 100; i++) { workerData.port.postMessage(i); Atomics.add(cells, 0, 1); }`,
      { eval: true, workerData: { bells: cells.buffer, port: channel.port1 }, transferList: [channel.port1] },
    );
    const got: unknown[] = [];
    const deadline = Date.now() + 10_000;
    while (got.length < 100 && Date.now() < deadline) {
      const r = receiver.receive(channel.port2);
      if (r) got.push(r.message);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await worker.terminate();
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
