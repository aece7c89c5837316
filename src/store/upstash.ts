import { LuaStore } from './lua-store.js';
import { reach, remoteTimeouts, runCommand, type RemoteStoreOptions } from './remote.js';
import { SubscribedChannels, type ChannelLink, type ChannelSink } from './subscribed-channels.js';
import type { Unsubscribe } from './types.js';
import { UpstashStream, type UpstashStreamClient, type UpstashSubscriber } from './upstash-stream.js';

export type { UpstashSubscriber };

/**
 * What the store uses of an `@upstash/redis` client (any of its platform builds). Declared
 * here rather than picked from the package's types, so that the published declarations do not
 * need the optional peer `@upstash/redis`.
 */
export interface UpstashClient extends UpstashStreamClient {
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  scriptLoad(script: string): Promise<unknown>;
  ping(): Promise<unknown>;
}

/**
 * `commandTimeoutMs` (default 5000; the client itself retries failed requests, about 4 s with
 * its defaults) and `connectTimeoutMs` (default 3000: PING in `connect()`, and a subscription
 * stream opening), with the prefix and event limit of every Lua store.
 */
export type UpstashStoreOptions = RemoteStoreOptions & {
  /**
   * A subscription stream that heard nothing for this many ms checks that it still works (it
   * publishes a probe to its channel) and is reopened when the probe does not come back within
   * as long again: `@upstash/redis` does not report a stream that broke after it opened.
   * Default 15000.
   */
  streamCheckMs?: number;
};

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
  private readonly streamCheckMs: number;
  /** Every channel is a subscription stream of its own. */
  private readonly channels = new SubscribedChannels((name, sink) => this.openChannel(name, sink), true);

  constructor(
    private readonly redis: UpstashClient,
    options: UpstashStoreOptions = {},
  ) {
    super(options);
    ({ commandTimeoutMs: this.commandTimeoutMs, connectTimeoutMs: this.connectTimeoutMs } = remoteTimeouts(options));
    this.streamCheckMs = options.streamCheckMs ?? 15_000;
  }

  /** The REST URL the client talks to, when it can be told. */
  get address(): string {
    const url = (this.redis as { client?: { baseUrl?: string } }).client?.baseUrl;
    return url || 'the configured URL';
  }

  async connect(): Promise<void> {
    await reach(
      'Upstash',
      this.address,
      this.command(() => this.redis.ping()),
      this.connectTimeoutMs,
    );
    await this.loadScripts();
  }

  async close(): Promise<void> {
    await Promise.all(this.channels.clear().map((link) => link.end().catch(() => undefined)));
  }

  /** Wrapped in JSON: the subscriber parses what it receives, and one SSE line holds no newline. */
  protected override wireMessage(message: string): string {
    return JSON.stringify({ m: message });
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    return this.channels.subscribe(this.channelName(channel), handler);
  }

  protected override async command<T>(run: () => Promise<T>): Promise<T> {
    // UpstashError: the server answered with an error (a bug, not an outage).
    return runCommand(run, this.commandTimeoutMs, 'Upstash', 'UpstashError');
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

  /** A subscription stream for `name`, reopened when it breaks (see upstash-stream.ts). */
  private openChannel(name: string, sink: ChannelSink): ChannelLink {
    return new UpstashStream(this.redis, name, sink, { connectTimeoutMs: this.connectTimeoutMs, checkMs: this.streamCheckMs });
  }
}
