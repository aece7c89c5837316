import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { exampleTools } from '../../examples/users-tools.js';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { startBroker } from '../helpers/broker.js';
import { conformance, GUARD, guardAuthentication, guardedConformance } from './suite.js';

conformance('node', '', async () => {
  const s = await startBroker({ tools: exampleTools() });
  return { url: s.url, close: s.close };
});

conformance('node', '/enclave', async () => {
  const broker = new EnclaveBroker({ tools: exampleTools(), logger: silentLogger });
  const outer = new Hono();
  outer.route('/enclave', broker.app);
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: outer.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/enclave`,
    close: async () => {
      await broker.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
});

guardedConformance('node', async () => {
  const s = await startBroker({
    tools: exampleTools(),
    authentication: guardAuthentication,
    rateLimiting: { windowMs: GUARD.windowMs, maxRequests: GUARD.maxRequests },
  });
  return { url: s.url, close: s.close };
});
