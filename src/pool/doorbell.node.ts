import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';

/**
 * One direction of a hot channel's doorbell: a shared counter the sender adds 1 to after every
 * message it posts, so that a thread looking for messages in a loop (the pool's `poll`, the
 * worker's `awaitHost`) reads an integer instead of the port's queue. Reading the queue takes a
 * lock that the sender's `postMessage` needs too; a sender that finds it taken sleeps until it
 * is free, which costs more than the round trip the looking is meant to save.
 */
export class Doorbell {
  /** The counter when the queue was last found empty. */
  private heard = 0;

  /** `cells[index]` is this direction's counter (both threads hold the same `SharedArrayBuffer`). */
  constructor(
    private readonly cells: Int32Array,
    private readonly index: number,
  ) {}

  /** Sender: call after each `postMessage` on the port. */
  ring(): void {
    Atomics.add(this.cells, this.index, 1);
  }

  /** Sender: posts `message` and rings (a ring nobody listens for, as on Bun, costs nothing). */
  post(target: { postMessage(message: unknown): void }, message: unknown): void {
    target.postMessage(message);
    this.ring();
  }

  /**
   * Receiver: the next message on `port`, read only when the bell rang since the queue was last
   * found empty. Messages the port's own listener took in the meantime cost one empty read.
   */
  receive(port: MessagePort): { message: unknown } | undefined {
    const rung = Atomics.load(this.cells, this.index);
    if (rung === this.heard) return undefined;
    const received = receiveMessageOnPort(port);
    // Every message posted before the counter showed `rung` has been read.
    if (!received) this.heard = rung;
    return received;
  }
}
