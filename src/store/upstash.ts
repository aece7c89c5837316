import { StoreUnavailableError, withTimeout } from './errors.js';
import { LuaStore, type LuaStoreOptions } from './lua-store.js';
import type { Unsubscribe } from './types.js';

/**
 * What the store uses of an `@upstash/redis` client (any of its platform builds). Declared
 * here rather than picked from the package's types, so that the published declarations do not
 * need the optional peer `@upstash/redis`.
 */
export interface UpstashClient {
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  scriptLoad(script: string): Promise<unknown>;
  ping(): Promise<unknown>;
  subscribe(channel: string): UpstashSubscriber;
}

/** What the store uses of the subscriber `UpstashClient.subscribe()` returns. */
export interface UpstashSubscriber {
  on(type: 'message' | 'subscribe' | 'error', listener: (event: any) => void): unknown;
  unsubscribe(): Promise<unknown>;
}

export interface UpstashStoreOptions extends LuaStoreOptions {
  /**
   * A command that has not answered after this many ms rejects with `STORE_UNAVAILABLE`
   * (the client itself retries failed requests, about 4 s with its defaults). Default 5000.
   */
  commandTimeoutMs?: number;
  /** How long `connect()` waits for PING, and `subscribe()` for the stream to open. Default 3000. */
  connectTimeoutMs?: number;
}

type Subscriber = UpstashSubscriber;

interface Channel {
  handlers: Set<(message: string) => void>;
  subscriber: Subscriber;
  ready: Promise<void>;
}

/**
 * A store on Upstash Redis through its REST API (`new UpstashStore(Redis.fromEnv())`), for
 * Node, Bun and Workers alike. Each method is one operation of a Lua script, and the operations
 * issued together go out as one request; subscriptions use the REST subscribe stream
 * (server-sent events), one stream per subscribed channel. The store does not own the client;
 * `close()` ends its subscription streams.
 */
export class UpstashStore extends LuaStore {
  readonly name = 'upstash';
  private readonly commandTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly redis: UpstashClient,
    options: UpstashStoreOptions = {},
  ) {
    super(options);
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  }

  /** The REST URL the client talks to, when it can be told. */
  get address(): string {
    const url = (this.redis as { client?: { baseUrl?: string } }).client?.baseUrl;
    return url || 'the configured URL';
  }

  async connect(): Promise<void> {
    try {
      await withTimeout(this.command(() => this.redis.ping()), this.connectTimeoutMs, 'PING');
    } catch (err) {
      const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new StoreUnavailableError(`The Upstash store at ${this.address} cannot be reached: ${why}`, { cause: err });
    }
    await this.loadScripts();
  }

  async close(): Promise<void> {
    const channels = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(channels.map((c) => c.subscriber.unsubscribe().catch(() => undefined)));
  }

  /** Wrapped in JSON: the subscriber parses what it receives, and one SSE line holds no newline. */
  protected override wireMessage(message: string): string {
    return JSON.stringify({ m: message });
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    const name = this.channelName(channel);
    let entry = this.channels.get(name);
    if (!entry) {
      entry = this.open(name);
      this.channels.set(name, entry);
    }
    const fn = (m: string) => handler(m);
    entry.handlers.add(fn);
    try {
      await entry.ready;
    } catch (err) {
      entry.handlers.delete(fn);
      if (this.channels.get(name) === entry) {
        this.channels.delete(name);
        await entry.subscriber.unsubscribe().catch(() => undefined);
      }
      throw err;
    }
    const current = entry;
    return async () => {
      if (!current.handlers.delete(fn) || current.handlers.size > 0) return;
      if (this.channels.get(name) !== current) return;
      this.channels.delete(name);
      await current.subscriber.unsubscribe().catch(() => undefined);
    };
  }

  protected override async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(run(), this.commandTimeoutMs, 'Upstash');
    } catch (err) {
      // UpstashError: the server answered with an error (a bug, not an outage).
      if ((err as Error | undefined)?.name === 'UpstashError' || err instanceof StoreUnavailableError) throw err;
      throw new StoreUnavailableError(undefined, { cause: err });
    }
  }

  protected override evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.redis.evalsha(sha, keys, args);
  }

  protected override evalScript(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.redis.eval(source, keys, args);
  }

  protected override scriptLoad(source: string): Promise<unknown> {
    return this.redis.scriptLoad(source);
  }

  private open(name: string): Channel {
    const subscriber = this.redis.subscribe(name);
    const handlers = new Set<(message: string) => void>();
    subscriber.on('message', ({ message }: { message: unknown }) => {
      let text: string;
      try {
        const envelope = (typeof message === 'string' ? JSON.parse(message) : message) as { m?: unknown };
        if (typeof envelope?.m !== 'string') return;
        text = envelope.m;
      } catch {
        return; // not published by a store: ignore
      }
      for (const handler of [...handlers]) queueMicrotask(() => handler(text));
    });
    let entry: Channel | undefined;
    const opened = new Promise<void>((resolve, reject) => {
      subscriber.on('subscribe', () => resolve());
      subscriber.on('error', (err: unknown) => {
        reject(new StoreUnavailableError(undefined, { cause: err }));
        // A failed stream is not reopened by the client: let the next subscribe() open a new one.
        if (entry && this.channels.get(name) === entry) this.channels.delete(name);
      });
    });
    const ready = withTimeout(opened, this.connectTimeoutMs, 'Upstash subscribe');
    ready.catch(() => undefined);
    entry = { handlers, subscriber, ready };
    return entry;
  }
}
