import { EnclaveBroker } from '../src/broker.js';
import type { BrokerOptions } from '../src/broker-options.js';
import { nodeHttpFetch } from '../src/openapi/fetch.node.js';
import { setPlatformFetch } from '../src/openapi/platform-fetch.js';
import { runtime } from '../src/util/runtime.js';

export * from '../src/index.js';

// OpenAPI action calls go over node:http with keep-alive (src/openapi/fetch.node.ts) unless a
// source or the broker sets its own `fetch`. Bun keeps its own fetch, which is fast already.
if (runtime() !== 'bun') setPlatformFetch(nodeHttpFetch);

/**
 * Starts a broker (on Node or Bun: `listen()` picks the server) and stops it gracefully on SIGTERM/SIGINT: it stops accepting,
 * ends live sessions with CANCELLED and exits once everything is closed.
 */
export async function serveBroker(options: BrokerOptions & { port?: number; hostname?: string } = {}): Promise<EnclaveBroker> {
  const { port = 3001, hostname, ...brokerOptions } = options;
  const broker = new EnclaveBroker(brokerOptions);
  await broker.listen(port, hostname);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker.logger.info({ signal }, 'shutting down');
    broker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return broker;
}
