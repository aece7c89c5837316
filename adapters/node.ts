import { pathToFileURL } from 'node:url';
import { EnclaveBroker } from '../src/broker.js';
import type { BrokerOptions } from '../src/broker-options.js';
import { consoleLogger } from '../src/logger.js';
import { exampleTools } from '../examples/users-tools.js';
import { nodeHttpFetch } from '../src/openapi/fetch.node.js';
import { setPlatformFetch } from '../src/openapi/platform-fetch.js';

export * from '../src/index.js';

// OpenAPI action calls go over node:http with keep-alive (src/openapi/fetch.node.ts) unless a
// source or the broker sets its own `fetch`. Bun keeps its own fetch, which is fast already.
if (!('Bun' in globalThis)) setPlatformFetch(nodeHttpFetch);

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

/**
 * `npm start` (and `bun adapters/bun.ts`): the in-memory store and the reference's example
 * tools on PORT (default 3001).
 */
export async function serveExample(): Promise<void> {
  const logger = consoleLogger((process.env.LOG_LEVEL as 'info') ?? 'info');
  const port = Number(process.env.PORT ?? 3001);
  const broker = await serveBroker({ port, hostname: process.env.HOST, tools: exampleTools(), logger });
  logger.info({ url: `http://${process.env.HOST ?? 'localhost'}:${broker.port}` }, 'enclave-broker ready');
}

/** Runs `serveExample`, exiting with one clear line if the broker cannot start. */
export function runExample(): void {
  serveExample().catch((err) => {
    console.error(`enclave-broker failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runExample();
