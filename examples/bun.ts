/**
 * A broker on Bun (`Bun.serve` with `idleTimeout: 0`, so streams waiting on slow tools are not
 * cut after 10 s).
 *
 *   bun examples/bun.ts
 */
import { consoleLogger, serveBroker } from '../adapters/bun.js';
import { exampleTools } from './users-tools.js';

declare const process: { env: Record<string, string | undefined> };

await serveBroker({
  port: Number(process.env.PORT ?? 3001),
  tools: exampleTools(),
  logger: consoleLogger('info'),
});
