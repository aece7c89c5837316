import type { RunningServer } from './util/server.js';

/** Serves a fetch handler with `Bun.serve`. Streams are never cut for being idle. */
interface BunServer {
  port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  requestIP(request: Request): { address: string } | null;
}
declare const Bun: {
  serve(options: {
    port: number;
    hostname?: string;
    idleTimeout?: number;
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
  }): BunServer;
};

export type { RunningServer };

export async function serve(fetch: (request: Request, env?: unknown) => Response | Promise<Response>, port: number, hostname?: string): Promise<RunningServer> {
  // idleTimeout 0: Bun's default (10 s) would cut a stream waiting on a slow tool.
  const server = Bun.serve({ port, hostname, idleTimeout: 0, fetch: (request, srv) => fetch(request, srv) });
  return {
    port: server.port,
    close: async () => {
      await server.stop(false);
    },
  };
}

/** The client address: Hono passes the Bun server as `env`. */
export function clientIp(request: Request, env: unknown): string | undefined {
  const server = env as BunServer | undefined;
  return server?.requestIP?.(request)?.address;
}
