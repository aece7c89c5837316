import { serve as honoServe } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { RunningServer } from './util/server.js';

/** How long `close()` lets open streams finish before their connections are cut. */
const CLOSE_GRACE_MS = 2000;

export type { RunningServer };

/** Serves a fetch handler with @hono/node-server; resolves once it listens. */
export function serve(fetch: (request: Request, env?: unknown) => Response | Promise<Response>, port: number, hostname?: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    // Bodies the app did not read are its business (drainUnread, and the lingering close of a
    // 413 in body.ts): the adapter's own clean-up would cut a refused upload after 500 ms.
    const server = honoServe({ fetch, port, hostname, autoCleanupIncoming: false }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            const http = server as Server;
            http.close(() => done());
            http.closeIdleConnections();
            // Live sessions are being cancelled: their streams end with `final` in a moment and
            // their connections turn idle; close those as they do, and anything left after a grace.
            const sweep = setInterval(() => http.closeIdleConnections(), 50);
            const force = setTimeout(() => http.closeAllConnections(), CLOSE_GRACE_MS);
            sweep.unref();
            force.unref();
            http.once('close', () => {
              clearInterval(sweep);
              clearTimeout(force);
            });
          }),
      });
    }) as Server;
    server.once('error', reject);
  });
}

/** The client address as @hono/node-server exposes it (`c.env.incoming`). */
export function clientIp(_request: Request, env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress;
}
