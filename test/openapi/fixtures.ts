/** A petstore-like spec and a real loopback service implementing it (127.0.0.1 only). */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { stringify as toYaml } from 'yaml';

export type SpecVersion = '3.0' | '3.1';

export interface SpecOptions {
  version?: SpecVersion;
  serverUrl?: string;
  /** Adds `GET /owners` (operationId listOwners). */
  withOwners?: boolean;
}

export function petstoreSpec(options: SpecOptions = {}): Record<string, unknown> {
  const v31 = options.version === '3.1';
  const paths: Record<string, unknown> = {
    '/pets': {
      get: {
        operationId: 'listPets',
        summary: 'List pets',
        tags: ['pets'],
        parameters: [
          { $ref: '#/components/parameters/Limit' },
          { name: 'tags', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
          { name: 'ids', in: 'query', explode: false, schema: { type: 'array', items: { type: 'integer' } } },
        ],
        responses: { '200': { description: 'ok' } },
      },
      post: {
        operationId: 'createPet',
        summary: 'Create a pet',
        description: 'Stores a new pet.',
        tags: ['pets'],
        requestBody: { $ref: '#/components/requestBodies/NewPet' },
        responses: { '201': { description: 'created' } },
      },
    },
    '/pets/{petId}': {
      parameters: [{ name: 'petId', in: 'path', required: true, description: 'The pet', schema: { type: 'integer' } }],
      get: {
        operationId: 'getPet',
        summary: 'Get a pet by id',
        parameters: [{ name: 'X-Request-Id', in: 'header', schema: { type: 'string' } }],
        responses: { '200': { description: 'ok' } },
      },
      delete: { summary: 'Delete a pet', deprecated: true, responses: { '204': { description: 'gone' } } },
    },
    '/search': {
      get: {
        operationId: 'search',
        parameters: [
          { name: 'filter', in: 'query', style: 'form', explode: true, schema: { type: 'object' } },
          { name: 'sort', in: 'query', style: 'form', explode: false, schema: { type: 'object' } },
          { name: 'deep', in: 'query', style: 'deepObject', schema: { type: 'object' } },
        ],
        responses: { '200': { description: 'ok' } },
      },
    },
    '/trees': {
      post: {
        operationId: 'plantTree',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } } },
        responses: { '200': { description: 'ok' } },
      },
    },
    '/big': { get: { operationId: 'bigPayload', responses: { '200': { description: 'ok' } } } },
    '/slow': { get: { operationId: 'slow', responses: { '200': { description: 'ok' } } } },
    '/redirect': { get: { operationId: 'redirectToPet', responses: { '302': { description: 'moved' } } } },
    '/redirect-away': { get: { operationId: 'redirectAway', responses: { '302': { description: 'moved' } } } },
  };
  if (options.withOwners) {
    paths['/owners'] = { get: { operationId: 'listOwners', summary: 'List owners', responses: { '200': { description: 'ok' } } } };
  }
  return {
    openapi: v31 ? '3.1.0' : '3.0.3',
    info: { title: 'Petstore', version: '1.0.0' },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    paths,
    components: {
      parameters: {
        Limit: { name: 'limit', in: 'query', description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
      },
      requestBodies: {
        NewPet: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewPet' } } } },
      },
      schemas: {
        NewPet: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1 },
            tag: v31 ? { type: ['string', 'null'] } : { type: 'string', nullable: true },
            age: { type: 'integer', minimum: 0 },
          },
        },
        Node: {
          type: 'object',
          required: ['value'],
          properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/components/schemas/Node' } } },
        },
      },
    },
  };
}

export interface TestService {
  url: string;
  port: number;
  /** Mutable: what the spec endpoints serve. */
  state: { withOwners: boolean; down: boolean; version: SpecVersion; specRequests: number; notModified: number };
  close(): Promise<void>;
}

/** Starts the petstore on 127.0.0.1 with a free port. */
export async function startService(): Promise<TestService> {
  const state = { withOwners: false, down: false, version: '3.0' as SpecVersion, specRequests: 0, notModified: 0 };
  let url = '';
  const app = new Hono();
  const pets = new Map<number, { id: number; name: string; tag?: string | null }>([[1, { id: 1, name: 'Rex', tag: 'dog' }]]);

  const specText = (format: 'json' | 'yaml') => {
    const spec = petstoreSpec({ version: state.version, withOwners: state.withOwners });
    return format === 'json' ? JSON.stringify(spec) : toYaml(spec);
  };
  for (const format of ['json', 'yaml'] as const) {
    app.get(`/openapi.${format}`, (c) => {
      state.specRequests++;
      if (state.down) return c.text('down', 503);
      const text = specText(format);
      const etag = `"${format}-${state.version}-${state.withOwners ? 1 : 0}"`;
      if (c.req.header('if-none-match') === etag) {
        state.notModified++;
        return c.body(null, 304);
      }
      return c.body(text, 200, { 'content-type': format === 'json' ? 'application/json' : 'application/yaml', etag });
    });
  }
  app.get('/pets', (c) => {
    const query = new URL(c.req.url).search;
    return c.json({ query, limit: c.req.query('limit'), tags: c.req.queries('tags') ?? [], pets: [...pets.values()] });
  });
  app.post('/pets', async (c) => {
    const body = await c.req.json<{ name: string; tag?: string | null }>();
    const pet = { id: pets.size + 1, ...body };
    pets.set(pet.id, pet);
    return c.json({ pet, contentType: c.req.header('content-type'), apiKey: c.req.header('x-api-key') }, 201);
  });
  app.get('/pets/:petId', (c) => {
    const pet = pets.get(Number(c.req.param('petId')));
    if (!pet) return c.json({ message: 'no such pet' }, 404);
    return c.json({ pet, requestId: c.req.header('x-request-id') ?? null, apiKey: c.req.header('x-api-key') ?? null });
  });
  app.delete('/pets/:petId', (c) => {
    pets.delete(Number(c.req.param('petId')));
    return c.body(null, 204);
  });
  app.get('/search', (c) => c.json({ query: decodeURIComponent(new URL(c.req.url).search) }));
  app.post('/trees', async (c) => c.json({ received: await c.req.json() }));
  app.get('/big', (c) => c.text('x'.repeat(256 * 1024)));
  app.get('/slow', async (c) => {
    // Answers only once the client gives up (no timer: the abort ends it).
    await new Promise<void>((resolve) => c.req.raw.signal.addEventListener('abort', () => resolve(), { once: true }));
    return c.text('too late');
  });
  app.get('/redirect', (c) => c.redirect('/pets/1', 302));
  app.get('/redirect-away', (c) => c.redirect('http://127.0.0.1:1/pets/1', 302));
  app.get('/text', (c) => c.text('plain words'));

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** A fetch that records requests and answers from a script, sending nothing anywhere. */
export function recordingFetch(
  answer: (url: URL, init?: RequestInit) => Response = () => new Response('{}', { headers: { 'content-type': 'application/json' } }),
) {
  const requests: Array<{ url: string; method: string }> = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    requests.push({ url: url.href, method: init?.method ?? 'GET' });
    return answer(url, init);
  };
  return { fetch: fetchFn, requests };
}
