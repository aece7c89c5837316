/**
 * `npm start` (`node dist/examples/serve.js`) and `npm run start:bun` (`bun examples/serve.ts`):
 * a broker with the in-memory store and the reference's example tools on PORT (default 3001),
 * HOST (default every interface), logging at LOG_LEVEL (default info). On Bun, `listen()`
 * serves with `Bun.serve`.
 */
import { pathToFileURL } from 'node:url';
import { consoleLogger, serveBroker } from '../adapters/node.js';
import { exampleTools } from './users-tools.js';

export async function serveExample(): Promise<void> {
  const logger = consoleLogger((process.env.LOG_LEVEL as 'info') ?? 'info');
  const port = Number(process.env.PORT ?? 3001);
  const broker = await serveBroker({ port, hostname: process.env.HOST, tools: exampleTools(), logger });
  logger.info({ url: `http://${process.env.HOST ?? 'localhost'}:${broker.port}` }, 'enclave-broker ready');
}

const main = (import.meta as { main?: boolean }).main ?? (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href);
if (main) {
  serveExample().catch((err) => {
    console.error(`enclave-broker failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
