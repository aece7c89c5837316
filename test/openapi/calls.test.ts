import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/protocol/errors.js';
import { CatalogHandler } from '../../src/openapi/catalog.js';
import { nodeHttpFetch } from '../../src/openapi/fetch.node.js';
import type { FetchLike } from '../../src/openapi/types.js';
import { ON_ABORT } from '../../src/tools/abort.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import type { ExecutionContext } from '../../src/tools/types.js';
import { startService, type TestService } from './fixtures.js';

// Every call behaviour holds for the global fetch and for the Node transport (fetch.node.ts).
for (const [label, fetchFn] of [
  ['global fetch', undefined],
  ['Node transport', nodeHttpFetch],
] as Array<[string, FetchLike | undefined]>) {
  describe(label, () => {
    let service: TestService;
    let registry: ToolRegistry;
    let catalog: CatalogHandler;

    function ctx(signal: AbortSignal = new AbortController().signal): ExecutionContext {
      return { sessionId: 's_test', callId: 'c_test', toolName: 'x', signal, context: {}, progress() {} };
    }

    async function call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<any> {
      const tool = registry.get(name);
      if (!tool) throw new Error(`no tool ${name}`);
      const checked = tool.validateArgs!(args);
      expect(checked.problems).toEqual([]);
      return tool.handler(checked.args, ctx(signal));
    }

    async function callError(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<BrokerError> {
      try {
        await call(name, args, signal);
      } catch (err) {
        expect(err).toBeInstanceOf(BrokerError);
        return err as BrokerError;
      }
      throw new Error('expected the call to fail');
    }

    beforeAll(async () => {
      service = await startService();
      registry = new ToolRegistry();
      catalog = new CatalogHandler(
        registry,
        [
          {
            name: 'petstore',
            specUrl: `${service.url}/openapi.yaml`,
            baseUrl: service.url,
            headers: { 'X-Api-Key': 'secret-1' },
            timeoutMs: 300,
            maxResponseBytes: 64 * 1024,
          },
        ],
        fetchFn ? { fetch: fetchFn } : {},
      );
      await catalog.start();
    });

    afterAll(async () => {
      catalog.stop();
      await service.close();
    });

    describe('calls to a real service', () => {
      it('registers the actions as tools', () => {
        expect(registry.has('petstore_listPets')).toBe(true);
        expect(registry.get('petstore_getPet')!.source).toBe('petstore');
        expect(registry.getDocumentation()).toContain('declare function callTool(name: "petstore_getPet", args: {');
      });

      it('sends path parameters, header parameters and the static headers', async () => {
        const answer = await call('petstore_getPet', { petId: 1, 'X-Request-Id': 'req-42' });
        expect(answer).toEqual({ pet: { id: 1, name: 'Rex', tag: 'dog' }, requestId: 'req-42', apiKey: 'secret-1' });
      });

      it('serializes query arrays (form, explode true and false) and applies defaults', async () => {
        const answer = await call('petstore_listPets', { tags: ['a b', 'c'], ids: [1, 2] });
        expect(answer.query).toBe('?limit=20&tags=a%20b&tags=c&ids=1%2C2');
        expect(answer.tags).toEqual(['a b', 'c']);
      });

      it('serializes query objects (form explode true/false, deepObject)', async () => {
        const answer = await call('petstore_search', { filter: { color: 'red', size: 'L' }, sort: { by: 'name', dir: 'asc' }, deep: { a: 1 } });
        expect(answer.query).toBe('?color=red&size=L&sort=by,name,dir,asc&deep[a]=1');
      });

      it('sends a JSON body', async () => {
        const answer = await call('petstore_createPet', { body: { name: 'Tom', tag: null } });
        expect(answer).toMatchObject({ pet: { name: 'Tom', tag: null }, contentType: 'application/json', apiKey: 'secret-1' });
      });

      it('follows a same-host redirect', async () => {
        const answer = await call('petstore_redirectToPet', {});
        expect(answer.pet).toEqual({ id: 1, name: 'Rex', tag: 'dog' });
      });

      it('refuses a redirect to another port', async () => {
        const err = await callError('petstore_redirectAway', {});
        expect(err.code).toBe('UPSTREAM_ERROR');
        expect(err.details).toMatchObject({ status: 302, reason: 'redirect' });
      });

      it('turns a non-2xx answer into UPSTREAM_ERROR with the status and body', async () => {
        const err = await callError('petstore_getPet', { petId: 999 });
        expect(err.code).toBe('UPSTREAM_ERROR');
        expect(err.details).toEqual({ status: 404, body: { message: 'no such pet' } });
      });

      it('answers null for an empty 204', async () => {
        const created = await call('petstore_createPet', { body: { name: 'Gone' } });
        expect(await call('petstore_delete_pets_petId', { petId: created.pet.id })).toBeNull();
      });

      it('caps the response size', async () => {
        const err = await callError('petstore_bigPayload', {});
        expect(err.code).toBe('UPSTREAM_ERROR');
        expect(err.details).toEqual({ reason: 'response_too_large', maxResponseBytes: 64 * 1024 });
      });

      it('times out a slow answer', async () => {
        const err = await callError('petstore_slow', {});
        expect(err.code).toBe('TOOL_TIMEOUT');
        expect(err.details).toEqual({ reason: 'timeout', timeoutMs: 300 });
      });

      it('stops when the session signal aborts', async () => {
        const controller = new AbortController();
        const pending = callError('petstore_slow', {}, controller.signal);
        controller.abort();
        expect((await pending).code).toBe('CANCELLED');
      });

      it("stops through the session's own cancel hook, without making the call's AbortSignal", async () => {
        let cancel: (() => void) | undefined;
        const hooked = {
          ...ctx(),
          get signal(): AbortSignal {
            throw new Error('the signal was made');
          },
          [ON_ABORT](listener: () => void) {
            cancel = listener;
          },
        } as ExecutionContext;
        const pending = registry.get('petstore_slow')!.handler({}, hooked);
        expect(cancel).toBeDefined();
        cancel!();
        await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
      });

      it("leaves no listener on a caller's signal once its calls are over", async () => {
        const controller = new AbortController();
        for (let i = 0; i < 3; i++) await call('petstore_getPet', { petId: 1 }, controller.signal);
        await callError('petstore_slow', {}, controller.signal);
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      });

      it('rejects a call without its path parameter', async () => {
        await expect(registry.get('petstore_getPet')!.handler({}, ctx())).rejects.toMatchObject({ code: 'TOOL_ARGS_INVALID' });
      });

      it('stops downloading an endless body without Content-Length at the cap', async () => {
        let closed!: () => void;
        const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
        const endless = createServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = 'x'.repeat(16 * 1024);
          const pump = () => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', pump);
          };
          res.once('close', () => closed());
          pump();
        });
        await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
        try {
          const reg = new ToolRegistry();
          const spec = (await import('./fixtures.js')).petstoreSpec();
          const baseUrl = `http://127.0.0.1:${(endless.address() as AddressInfo).port}`;
          const source = { name: 'endless', spec, baseUrl, maxResponseBytes: 64 * 1024 };
          await new CatalogHandler(reg, [source], fetchFn ? { fetch: fetchFn } : {}).refresh();
          await expect(reg.get('endless_bigPayload')!.handler({}, ctx())).rejects.toMatchObject({
            code: 'UPSTREAM_ERROR',
            details: { reason: 'response_too_large', maxResponseBytes: 64 * 1024 },
          });
          await serverSawClose;
        } finally {
          endless.closeAllConnections();
          await new Promise((resolve) => endless.close(resolve));
        }
      });

      /** A raw node:http service for one test, and the petstore actions pointing at it. */
      async function rawService(
        handle: (req: IncomingMessage, res: ServerResponse) => void,
        extra: { timeoutMs?: number; maxResponseBytes?: number } = {},
      ): Promise<{ reg: ToolRegistry; connections: () => number; close: () => Promise<void> }> {
        const server = createServer(handle);
        let connections = 0;
        server.on('connection', () => connections++);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const reg = new ToolRegistry();
        const spec = (await import('./fixtures.js')).petstoreSpec();
        const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        await new CatalogHandler(reg, [{ name: 'raw', spec, baseUrl, maxResponseBytes: 64 * 1024, ...extra }], fetchFn ? { fetch: fetchFn } : {}).refresh();
        return {
          reg,
          connections: () => connections,
          close: async () => {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
          },
        };
      }

      it('stops a call whose body stalls when the session signal aborts, and closes the connection', async () => {
        let closed!: () => void;
        const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
        let headersSent!: () => void;
        const started = new Promise<void>((resolve) => (headersSent = resolve));
        const raw = await rawService((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"pet":');
          res.once('close', () => closed());
          headersSent();
        });
        try {
          const controller = new AbortController();
          const pending = raw.reg.get('raw_getPet')!.handler({ petId: 1 }, ctx(controller.signal));
          await started;
          controller.abort();
          await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
          await serverSawClose;
        } finally {
          await raw.close();
        }
      });

      it('times out a call whose body stalls', async () => {
        const raw = await rawService(
          (_req, res) => {
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
            res.write('{"pet":');
          },
          { timeoutMs: 200 },
        );
        try {
          await expect(raw.reg.get('raw_getPet')!.handler({ petId: 1 }, ctx())).rejects.toMatchObject({
            code: 'TOOL_TIMEOUT',
            details: { reason: 'timeout', timeoutMs: 200 },
          });
        } finally {
          await raw.close();
        }
      });

      it('reports a connection cut in the middle of the body as UPSTREAM_ERROR', async () => {
        const raw = await rawService((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"pet":', () => res.destroy());
        });
        try {
          await expect(raw.reg.get('raw_getPet')!.handler({ petId: 1 }, ctx())).rejects.toMatchObject({
            code: 'UPSTREAM_ERROR',
            details: { reason: 'network' },
          });
        } finally {
          await raw.close();
        }
      });

      it('keeps the start of a long error body, and refuses a declared length over the cap unread', async () => {
        const raw = await rawService((req, res) => {
          if (req.url === '/big') {
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(1024 * 1024) });
            res.write('x');
            return;
          }
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`é${'e'.repeat(10_000)}`);
        });
        try {
          const err = await raw.reg
            .get('raw_getPet')!
            .handler({ petId: 1 }, ctx())
            .catch((e: unknown) => e as BrokerError);
          expect(err).toMatchObject({ code: 'UPSTREAM_ERROR', details: { status: 500 } });
          const { body } = (err as BrokerError).details as { body: string };
          expect(body).toBe(`é${'e'.repeat(4095)}…`);
          await expect(raw.reg.get('raw_bigPayload')!.handler({}, ctx())).rejects.toMatchObject({
            code: 'UPSTREAM_ERROR',
            details: { reason: 'response_too_large', maxResponseBytes: 64 * 1024 },
          });
        } finally {
          await raw.close();
        }
      });

      it('reads a large answer sent at once, up to its cap', async () => {
        const names = Array.from({ length: 30_000 }, (_, i) => `pet-${i}`);
        const raw = await rawService(
          (_req, res) => {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ names }));
          },
          { maxResponseBytes: 1024 * 1024 },
        );
        try {
          expect(await raw.reg.get('raw_getPet')!.handler({ petId: 1 }, ctx())).toEqual({ names });
        } finally {
          await raw.close();
        }
      });

      it('answers JSON split over many chunks, a UTF-8 character cut between two', async () => {
        const raw = await rawService((_req, res) => {
          const bytes = Buffer.from(JSON.stringify({ pet: { id: 1, name: 'Rébus'.repeat(2000) } }));
          res.writeHead(200, { 'content-type': 'application/json' });
          const cut = bytes.indexOf(Buffer.from('é')) + 1;
          res.write(bytes.subarray(0, cut));
          setImmediate(() => res.end(bytes.subarray(cut)));
        });
        try {
          const answer = (await raw.reg.get('raw_getPet')!.handler({ petId: 1 }, ctx())) as { pet: { name: string } };
          expect(answer.pet.name).toBe('Rébus'.repeat(2000));
        } finally {
          await raw.close();
        }
      });

      it('sends sequential calls over kept-alive connections, error answers included', async () => {
        const raw = await rawService((req, res) => {
          const ok = req.url === '/pets/1';
          res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' }).end(ok ? '{"pet":{"id":1}}' : '{"message":"no such pet"}');
        });
        try {
          const getPet = raw.reg.get('raw_getPet')!;
          for (let i = 0; i < 4; i++) {
            expect(await getPet.handler({ petId: 1 }, ctx())).toEqual({ pet: { id: 1 } });
            await expect(getPet.handler({ petId: 2 }, ctx())).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', details: { status: 404 } });
          }
          // undici may open a second connection for a call made in the turn the first one's
          // answer ended (before it counts that connection free again); never one per call.
          expect(raw.connections()).toBeLessThanOrEqual(2);
        } finally {
          await raw.close();
        }
      });

      it('calls a service on an IPv6 address, with a base path and a query', async () => {
        const server = createServer((req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, host: req.headers.host }));
        });
        await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
        try {
          const reg = new ToolRegistry();
          const spec = (await import('./fixtures.js')).petstoreSpec();
          const baseUrl = `http://[::1]:${(server.address() as AddressInfo).port}/v1/`;
          await new CatalogHandler(reg, [{ name: 'six', spec, baseUrl }], fetchFn ? { fetch: fetchFn } : {}).refresh();
          expect(await reg.get('six_listPets')!.handler({ limit: 5 }, ctx())).toEqual({
            url: '/v1/pets?limit=5',
            host: `[::1]:${(server.address() as AddressInfo).port}`,
          });
        } finally {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
        }
      });

      // The Node transport's own retry (Node's fetch does not retry).
      if (fetchFn === nodeHttpFetch)
        it('sends an idempotent call again once when a kept-alive connection closes under it, not a POST', async () => {
          const seen = new WeakMap<object, number>();
          // Set: the server closes the next kept-alive connection a request arrives on, once.
          let closeNext = true;
          let closed = 0;
          const raw = await rawService((req, res) => {
            const count = (seen.get(req.socket) ?? 0) + 1;
            seen.set(req.socket, count);
            if (count > 1 && closeNext) {
              closeNext = false;
              closed++;
              req.socket.destroy();
              return;
            }
            req.resume();
            res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end('{"pet":{"id":1}}');
          });
          try {
            const getPet = raw.reg.get('raw_getPet')!;
            for (let i = 0; i < 10 && closed === 0; i++) expect(await getPet.handler({ petId: 1 }, ctx())).toEqual({ pet: { id: 1 } });
            expect(closed).toBe(1);
            closeNext = true;
            const createPet = raw.reg.get('raw_createPet')!;
            let failed: BrokerError | undefined;
            for (let i = 0; i < 10 && !failed; i++) {
              failed = await createPet.handler({ body: { name: 'Tom' } }, ctx()).then(
                () => undefined,
                (err: BrokerError) => err,
              );
            }
            expect(closed).toBe(2);
            expect(failed).toMatchObject({ code: 'UPSTREAM_ERROR', details: { reason: 'network' } });
          } finally {
            await raw.close();
          }
        });

      it('reports a refused connection as UPSTREAM_ERROR', async () => {
        const reg = new ToolRegistry();
        const spec = (await import('./fixtures.js')).petstoreSpec();
        const down = new CatalogHandler(reg, [{ name: 'down', spec, baseUrl: 'http://127.0.0.1:1' }], {
          onError: () => {},
          ...(fetchFn ? { fetch: fetchFn } : {}),
        });
        await down.refresh();
        await expect(reg.get('down_listPets')!.handler({}, ctx())).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', details: { reason: 'network' } });
      });
    });
  });
}
