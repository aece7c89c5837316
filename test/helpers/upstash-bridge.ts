import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { Redis } from 'ioredis';

/**
 * A small Upstash-REST-compatible server in front of a real redis-server, speaking what
 * `@upstash/redis` 1.39 sends: POST `/` (one command as a JSON array), `/pipeline` and
 * `/multi-exec` (arrays of commands), `/subscribe/<channel>` (server-sent events). With
 * `Upstash-Encoding: base64`, every string in a result is base64; integers and nil are not.
 */
export class UpstashBridge {
  private readonly redis: Redis;
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  /** Requests answered, by path (`/`, `/pipeline`, `/multi-exec`, `/subscribe`). */
  readonly requests = new Map<string, number>();

  private constructor(
    redisUrl: string,
    readonly token: string,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
    });
  }

  static async start(redisUrl: string, token = 'test-token'): Promise<UpstashBridge> {
    const bridge = new UpstashBridge(redisUrl, token);
    bridge.server.listen(0, '127.0.0.1');
    await once(bridge.server, 'listening');
    return bridge;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.streams) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    this.redis.disconnect();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(res, 401, { error: 'Unauthorized' });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body: unknown = text ? JSON.parse(text) : [];
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const path = new URL(req.url ?? '/', 'http://bridge').pathname;
    const route = path.split('/')[1] ?? '';
    this.requests.set(`/${route}`, (this.requests.get(`/${route}`) ?? 0) + 1);

    if (route === 'subscribe') return this.subscribe(decodeURIComponent(path.slice('/subscribe/'.length)), res);
    if (route === 'pipeline') {
      const commands = body as unknown[][];
      const replies = await Promise.all(commands.map((c) => this.run(c).then(ok, fail)));
      return send(
        res,
        200,
        replies.map((r) => encodeReply(r, base64)),
      );
    }
    if (route === 'multi-exec') {
      const multi = this.redis.multi();
      for (const [name, ...args] of body as unknown[][]) multi.callBuffer(String(name), ...args.map(arg));
      const results = (await multi.exec()) ?? [];
      return send(
        res,
        200,
        results.map(([err, value]) => encodeReply(err ? fail(err) : ok(value), base64)),
      );
    }
    if (route !== '') return send(res, 404, { error: `unknown path ${path}` });
    const reply = await this.run(body as unknown[]).then(ok, fail);
    send(res, reply.error === undefined ? 200 : 400, encodeReply(reply, base64));
  }

  private run([name, ...args]: unknown[]): Promise<unknown> {
    return this.redis.callBuffer(String(name), ...args.map(arg));
  }

  private async subscribe(channel: string, res: ServerResponse): Promise<void> {
    const subscriber = this.redis.duplicate();
    subscriber.on('error', () => undefined);
    this.streams.add(res);
    // Cleaned up when the response closes (the client aborting its fetch), not the request.
    res.on('close', () => {
      this.streams.delete(res);
      subscriber.disconnect();
    });
    subscriber.on('message', (ch: string, message: string) => {
      res.write(`data: message,${ch},${message}\n\n`);
    });
    const count = await subscriber.subscribe(channel);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write(`data: subscribe,${channel},${count}\n\n`);
  }
}

interface Reply {
  result?: unknown;
  error?: string;
}

const ok = (result: unknown): Reply => ({ result });
const fail = (err: unknown): Reply => ({ error: err instanceof Error ? err.message : String(err) });
const arg = (a: unknown): string => (typeof a === 'string' ? a : typeof a === 'object' ? JSON.stringify(a) : String(a));

function encodeReply(reply: Reply, base64: boolean): Reply {
  return reply.error === undefined ? { result: encode(reply.result, base64) } : { error: reply.error };
}

function encode(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return base64 ? value.toString('base64') : value.toString('utf8');
  if (typeof value === 'string') return base64 ? Buffer.from(value, 'utf8').toString('base64') : value;
  if (Array.isArray(value)) return value.map((v) => encode(v, base64));
  if (value === undefined) return null;
  return value; // integers and nil
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
