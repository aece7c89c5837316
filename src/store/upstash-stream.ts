import { StoreUnavailableError, withTimeout } from './errors.js';
import type { ChannelLink, ChannelSink } from './subscribed-channels.js';
import { unref } from '../util/timers.js';

/** What the stream uses of an `@upstash/redis` client. */
export interface UpstashStreamClient {
  subscribe(channel: string): UpstashSubscriber;
  publish(channel: string, message: string): Promise<unknown>;
}

/** What the stream uses of the subscriber `subscribe()` returns. */
export interface UpstashSubscriber {
  // biome-ignore lint/suspicious/noExplicitAny: the events of @upstash/redis differ by type; each is narrowed where it is added
  on(type: 'message' | 'subscribe' | 'error', listener: (event: any) => void): unknown;
  unsubscribe(): Promise<unknown>;
}

export interface UpstashStreamOptions {
  /** How long the stream may take to open. */
  connectTimeoutMs: number;
  /** A stream silent for this long is probed; one whose probe is not back by the next look is reopened. */
  checkMs: number;
}

/**
 * One channel's subscription stream (server-sent events), kept alive. `@upstash/redis` 1.39
 * reports an error only while a stream opens: one that breaks later (a network cut) ends
 * without a word, and its channel would stay silent for good. So a stream that heard nothing
 * for `checkMs` publishes a probe to its own channel; when the probe has not come back by the
 * next look, the stream is replaced by a new one (again at every look until one opens).
 * Messages published while no stream was open are lost, as pub/sub messages are.
 *
 * A message of the store is `{"m": text}` (see `UpstashStore.wireMessage`); a probe is
 * `{"p": nonce}` and is never delivered, also not to other processes on the channel.
 */
export class UpstashStream implements ChannelLink {
  readonly ready: Promise<void>;
  private subscriber: UpstashSubscriber;
  private lastHeard = Date.now();
  /** The probe in flight, if any. */
  private probe: string | undefined;
  private reopening = false;
  private ended = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly client: UpstashStreamClient,
    private readonly name: string,
    private readonly sink: ChannelSink,
    private readonly options: UpstashStreamOptions,
  ) {
    const first = this.open();
    this.subscriber = first.subscriber;
    this.ready = first.opened;
    this.timer = setInterval(() => this.look(), options.checkMs);
    unref(this.timer);
    // Not kept alive: the first stream never opened (the channel is given up by its owner).
    this.ready.catch(() => clearInterval(this.timer));
  }

  async end(): Promise<void> {
    this.ended = true;
    clearInterval(this.timer);
    await this.subscriber.unsubscribe();
  }

  private open(): { subscriber: UpstashSubscriber; opened: Promise<void> } {
    const subscriber = this.client.subscribe(this.name);
    subscriber.on('message', ({ message }: { message: unknown }) => {
      if (subscriber !== this.subscriber) return;
      this.lastHeard = Date.now();
      let envelope: { m?: unknown; p?: unknown };
      try {
        envelope = (typeof message === 'string' ? JSON.parse(message) : message) as typeof envelope;
      } catch {
        return; // not published by a store: ignore
      }
      if (typeof envelope?.p === 'string') {
        if (envelope.p === this.probe) this.probe = undefined;
        return;
      }
      if (typeof envelope?.m === 'string') this.sink.deliver(envelope.m);
    });
    const opened = new Promise<void>((resolve, reject) => {
      subscriber.on('subscribe', () => resolve());
      subscriber.on('error', (err: unknown) => reject(new StoreUnavailableError(undefined, { cause: err })));
    });
    return { subscriber, opened: withTimeout(opened, this.options.connectTimeoutMs, 'Upstash subscribe') };
  }

  private look(): void {
    if (this.ended || this.reopening) return;
    if (this.probe !== undefined) {
      void this.reopen();
      return;
    }
    if (Date.now() - this.lastHeard < this.options.checkMs) return;
    const nonce = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`;
    this.probe = nonce;
    // A failed publish leaves the probe unanswered: the next look reopens the stream.
    this.client.publish(this.name, JSON.stringify({ p: nonce })).catch(() => undefined);
  }

  private async reopen(): Promise<void> {
    this.reopening = true;
    const old = this.subscriber;
    const next = this.open();
    this.subscriber = next.subscriber;
    old.unsubscribe().catch(() => undefined);
    try {
      await next.opened;
      this.probe = undefined;
      this.lastHeard = Date.now();
    } catch {
      // Still unreachable: the probe stays unanswered, so the next look tries again.
      next.subscriber.unsubscribe().catch(() => undefined);
    } finally {
      this.reopening = false;
      if (this.ended) this.subscriber.unsubscribe().catch(() => undefined);
    }
  }
}
