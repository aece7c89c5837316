import type { Unsubscribe } from './types.js';

/** What a store opened for one channel. */
export interface ChannelLink {
  /** Settles once messages flow; rejects when the channel could not be opened. */
  ready: Promise<unknown>;
  /** Stops listening on the channel (its last handler left). */
  end(): Promise<unknown>;
}

/** What the store gets for one channel it opens. */
export interface ChannelSink {
  /** Hands a message to every handler of this channel (each in a microtask). */
  deliver(message: string): void;
  /** Forgets the channel (it failed for good): the next `subscribe()` opens it again. */
  drop(): void;
}

interface Channel {
  handlers: Set<(message: string) => void>;
  link: ChannelLink;
}

/**
 * The channels a store listens on in another server (Redis, Upstash): one link per channel
 * name, shared by every handler of that name and ended when the last one leaves. How a link
 * is opened is the store's: a SUBSCRIBE on one shared connection, or a stream of its own.
 */
export class SubscribedChannels {
  private readonly channels = new Map<string, Channel>();

  /**
   * @param open Opens `name` for `sink`.
   * @param endFailed Whether a link that failed to open is ended too (a stream of its own),
   *   or only forgotten (a subscription on a connection the store keeps).
   */
  constructor(
    private readonly open: (name: string, sink: ChannelSink) => ChannelLink,
    private readonly endFailed: boolean,
  ) {}

  /** Hands a message that arrived on `name` to its handlers (a link shared by every channel). */
  deliver(name: string, message: string): void {
    const entry = this.channels.get(name);
    if (entry) for (const handler of [...entry.handlers]) queueMicrotask(() => handler(message));
  }

  /** Resolves once the channel is open; rejects (and forgets the handler) when it cannot be. */
  async subscribe(name: string, handler: (message: string) => void): Promise<Unsubscribe> {
    let entry = this.channels.get(name);
    if (!entry) {
      entry = this.openEntry(name);
      this.channels.set(name, entry);
    }
    const fn = (m: string) => handler(m);
    entry.handlers.add(fn);
    try {
      await entry.link.ready;
    } catch (err) {
      entry.handlers.delete(fn);
      if (this.channels.get(name) === entry) {
        this.channels.delete(name);
        if (this.endFailed) await entry.link.end().catch(() => undefined);
      }
      throw err;
    }
    const current = entry;
    return async () => {
      if (!current.handlers.delete(fn) || current.handlers.size > 0) return;
      if (this.channels.get(name) !== current) return;
      this.channels.delete(name);
      // A failed unsubscribe is harmless: messages on a channel without handlers are dropped.
      await current.link.end().catch(() => undefined);
    };
  }

  /** Forgets every channel (the store closes); answers their links, for the store to end. */
  clear(): ChannelLink[] {
    const links = [...this.channels.values()].map((c) => c.link);
    this.channels.clear();
    return links;
  }

  private openEntry(name: string): Channel {
    const handlers = new Set<(message: string) => void>();
    const entry: Channel = { handlers, link: undefined! };
    entry.link = this.open(name, {
      deliver: (message) => {
        for (const handler of [...handlers]) queueMicrotask(() => handler(message));
      },
      drop: () => {
        if (this.channels.get(name) === entry) this.channels.delete(name);
      },
    });
    // Awaited by the subscriber that opened it; this keeps a failure from going unhandled.
    entry.link.ready.catch(() => undefined);
    return entry;
  }
}
