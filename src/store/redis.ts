import { StoreUnavailableError } from './errors.js';
import { keySlot } from './key-slot.js';
import { LuaStore } from './lua-store.js';
import { reach, remoteTimeouts, runCommand, type RemoteStoreOptions } from './remote.js';
import { SubscribedChannels, type ChannelLink } from './subscribed-channels.js';
import type { Unsubscribe } from './types.js';

/**
 * What the store uses of an `ioredis` client: a `Redis`, or a `Cluster`. Declared here rather
 * than picked from the package's types, so that the published declarations do not need the
 * optional peer `ioredis`.
 */
export interface RedisClient {
  readonly status?: string;
  readonly options?: { host?: string; port?: number; path?: string | null } | object;
  evalsha(sha1: string, numkeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: string[]): Promise<unknown>;
  script(subcommand: 'LOAD', script: string): Promise<unknown>;
  ping(): Promise<unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: ioredis' own signature (its options type is not imported here)
  duplicate(...args: any[]): RedisSubscriber;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  /** Set by an ioredis `Cluster`. */
  readonly isCluster?: boolean;
  /** An ioredis `Cluster`'s nodes. */
  nodes?(role: 'master'): Array<{ script(subcommand: 'LOAD', script: string): Promise<unknown> }>;
}

/** What the store uses of its subscriber connection (`RedisClient.duplicate()`). */
export interface RedisSubscriber {
  readonly status?: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Sharded pub/sub of an ioredis `Cluster` (Redis ≥ 7). */
  ssubscribe?(channel: string): Promise<unknown>;
  sunsubscribe?(channel: string): Promise<unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: ioredis' listeners differ by event; each is narrowed where it is added
  on(event: 'error' | 'message' | 'smessage', listener: (...args: any[]) => void): unknown;
  disconnect(): void;
}

/**
 * `commandTimeoutMs` (default 5000; while the client is reconnecting, commands reject at once
 * instead) and `connectTimeoutMs` (default 3000), with the prefix and event limit of every
 * Lua store.
 */
export type RedisStoreOptions = RemoteStoreOptions;

type Subscriber = RedisSubscriber;

/** ioredis client states in which a command would only wait in the offline queue. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

/**
 * A store on Redis through any `ioredis` client (`new RedisStore(new Redis(url))`). The store
 * does not own the client: `close()` ends only the subscriber connection it opened (a
 * `duplicate()` of the client, made on the first `subscribe()`, shared by every channel).
 *
 * Outages: a client with default options works. While the client is reconnecting, every
 * command rejects at once with `STORE_UNAVAILABLE` instead of waiting in ioredis's offline
 * queue; a command already sent when the connection drops rejects after `commandTimeoutMs`
 * (ioredis may still apply it after reconnecting). The client's own reconnection (its
 * default `retryStrategy` retries forever) brings the same store back; the subscriber
 * resubscribes by itself and the scripts are reloaded on demand. Keep `retryStrategy`
 * retrying, and keep `enableOfflineQueue` on (with it off, commands sent before the first
 * connection is ready fail). Listen for the client's `error` events to keep ioredis from
 * logging them.
 *
 * Redis Cluster: pass an ioredis `Cluster`. Every key of a session carries the session id as
 * hash tag (`enclave:{s_…}:events`), so each operation touches one slot; the operations of a
 * turn go out as one script call per slot; notifications use sharded pub/sub (SPUBLISH,
 * SSUBSCRIBE: Redis 7 or later) on channels in the session's slot; the subscriber is a
 * `duplicate()` of the cluster with `shardedSubscribers` on.
 */
export class RedisStore extends LuaStore {
  readonly name = 'redis';
  private readonly commandTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private subscriber: Subscriber | undefined;
  /** Every channel is a subscription on the one subscriber connection. */
  private readonly channels = new SubscribedChannels((name) => this.openChannel(name), false);
  private readonly isCluster: boolean;

  constructor(
    private readonly client: RedisClient,
    options: RedisStoreOptions = {},
  ) {
    super(options);
    ({ commandTimeoutMs: this.commandTimeoutMs, connectTimeoutMs: this.connectTimeoutMs } = remoteTimeouts(options));
    this.isCluster = (client as { isCluster?: unknown }).isCluster === true;
  }

  /** `host:port` (or the socket path) the client talks to. */
  get address(): string {
    if (this.isCluster) {
      const nodes = (this.client as { startupNodes?: unknown[] }).startupNodes ?? [];
      return `the cluster at ${nodes.map((n) => (typeof n === 'object' && n ? `${(n as { host?: string }).host ?? 'localhost'}:${(n as { port?: number }).port ?? 6379}` : String(n))).join(', ')}`;
    }
    const o = (this.client.options ?? {}) as { host?: string; port?: number; path?: string | null };
    return o.path ? String(o.path) : `${o.host ?? 'localhost'}:${o.port ?? 6379}`;
  }

  protected override get clustered(): boolean {
    return this.isCluster;
  }

  protected override slotOf(key: string): number | string {
    return keySlot(key);
  }

  async connect(): Promise<void> {
    let onError: ((err: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      onError = (err) => reject(err);
      this.client.once('error', onError);
    });
    try {
      await reach('Redis', this.address, Promise.race([this.command(() => this.client.ping()), failed]), this.connectTimeoutMs);
    } finally {
      if (onError) this.client.off('error', onError);
    }
    await this.loadScripts();
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.channels.clear();
    subscriber?.disconnect();
  }

  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    return this.channels.subscribe(this.channelName(channel), handler);
  }

  /** SUBSCRIBE (SSUBSCRIBE on a cluster) on the subscriber connection, opened on first use. */
  private openChannel(name: string): ChannelLink {
    const subscriber = this.ensureSubscriber();
    return {
      ready: this.guard(subscriber, () => (this.isCluster ? subscriber.ssubscribe!(name) : subscriber.subscribe(name))),
      end: () => (this.isCluster ? subscriber.sunsubscribe!(name) : subscriber.unsubscribe(name)),
    };
  }

  protected override async command<T>(run: () => Promise<T>): Promise<T> {
    return this.guard(this.client, run);
  }

  protected override evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.evalsha(sha, keys.length, ...keys, ...args);
  }

  protected override evalScript(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.eval(source, keys.length, ...keys, ...args);
  }

  protected override scriptLoad(source: string): Promise<unknown> {
    if (this.isCluster) {
      // Into every primary's script cache (a node without it answers NOSCRIPT: EVAL then).
      return Promise.all(this.client.nodes!('master').map((node) => node.script('LOAD', source)));
    }
    return this.client.script('LOAD', source);
  }

  private async guard<T>(client: { readonly status?: string }, run: () => Promise<T>): Promise<T> {
    if (client.status !== undefined && DOWN.has(client.status)) {
      throw new StoreUnavailableError(`The Redis connection is ${client.status}`);
    }
    return runCommand(run, this.commandTimeoutMs, 'Redis', 'ReplyError');
  }

  private ensureSubscriber(): Subscriber {
    if (this.subscriber) return this.subscriber;
    const subscriber: Subscriber = this.isCluster ? this.client.duplicate(undefined, { shardedSubscribers: true }) : this.client.duplicate();
    // The store owns this connection; its errors show up as failed commands instead.
    subscriber.on('error', () => undefined);
    subscriber.on(this.isCluster ? 'smessage' : 'message', (channel: string, message: string) => this.channels.deliver(channel, message));
    this.subscriber = subscriber;
    return subscriber;
  }
}
