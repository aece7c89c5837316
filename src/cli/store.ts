import type { Logger } from '../logger.js';
import type { BrokerStore } from '../store/types.js';
import type { CliOptions } from './options.js';

export interface CliStore {
  store: BrokerStore | undefined;
  /** Ends the client connection the CLI opened. */
  close(): Promise<void>;
}

/** The store the flags ask for; the Redis and Upstash clients are loaded only when used. */
export async function createCliStore(options: Pick<CliOptions, 'redisUrl' | 'upstash'>, logger: Logger): Promise<CliStore> {
  if (options.redisUrl) {
    const [{ Redis }, { RedisStore }] = await Promise.all([import('ioredis'), import('../store/redis.js')]);
    const client = new Redis(options.redisUrl);
    let reported = false;
    client.on('error', (err: Error) => {
      if (!reported) logger.warn({ err: err.message }, 'redis connection error');
      reported = true;
    });
    client.on('ready', () => (reported = false));
    return { store: new RedisStore(client), close: async () => void client.disconnect() };
  }
  if (options.upstash) {
    const [{ Redis }, { UpstashStore }] = await Promise.all([import('@upstash/redis'), import('../store/upstash.js')]);
    const client = new Redis({ url: options.upstash.url, token: options.upstash.token, enableTelemetry: false });
    return { store: new UpstashStore(client), close: async () => undefined };
  }
  return { store: undefined, close: async () => undefined };
}
