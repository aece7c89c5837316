import { serve as honoServe } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** Serves a fetch handler with @hono/node-server; resolves once it listens. */
export function serve(
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>,
  port: number,
  hostname?: string,
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = honoServe({ fetch, port, hostname }, (info: AddressInfo) => {
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            const http = server as Server;
            http.close(() => done());
            // Streams still open (followers of finished sessions end on their own).
            http.closeIdleConnections?.();
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
