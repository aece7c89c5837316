import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatalogHandler } from '../../src/openapi/catalog.js';
import type { CatalogResponse } from '../../src/openapi/types.js';
import type { CatalogChangedPayload } from '../../src/protocol/events.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { petstoreSpec, startService, type TestService } from './fixtures.js';

let service: TestService;
let handlers: CatalogHandler[];

beforeEach(async () => {
  service = await startService();
  handlers = [];
});
afterEach(async () => {
  for (const h of handlers) h.stop();
  await service.close();
});

function make(registry: ToolRegistry, sources: ConstructorParameters<typeof CatalogHandler>[1], errors: Error[] = []) {
  const handler = new CatalogHandler(registry, sources, { onError: (_name, e) => errors.push(e), retryDelayMs: 10 });
  handlers.push(handler);
  return handler;
}

function nextChange(handler: CatalogHandler): Promise<CatalogChangedPayload> {
  return new Promise((resolve) => {
    const off = handler.onChange((change) => {
      off();
      resolve(change);
    });
  });
}

describe('catalog', () => {
  it('answers an empty catalog with no sources', async () => {
    const catalog = await make(new ToolRegistry(), []).getCatalog();
    expect(catalog.actions).toEqual([]);
    expect(catalog.services).toEqual([]);
    expect(catalog.version).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps its version across re-polls and uses conditional requests', async () => {
    const handler = make(new ToolRegistry(), [{ name: 'petstore', specUrl: `${service.url}/openapi.json`, baseUrl: service.url }]);
    const first = await handler.refresh();
    const second = await handler.refresh();
    const third = await handler.refresh();
    expect(second.version).toBe(first.version);
    expect(third.version).toBe(first.version);
    expect(service.state.notModified).toBe(2);
    expect(first.actions).toHaveLength(10);
  });

  it('changes its version only when an action is added or removed', async () => {
    const registry = new ToolRegistry();
    const handler = make(registry, [{ name: 'petstore', specUrl: `${service.url}/openapi.yaml`, baseUrl: service.url }]);
    const changes: CatalogChangedPayload[] = [];
    handler.onChange((c) => changes.push(c));
    const v1 = (await handler.refresh()).version;
    expect(changes).toHaveLength(1);
    expect(changes[0]!.addedActions).toHaveLength(10);

    // A different spec text with the same actions: same version, no event.
    service.state.version = '3.1';
    expect((await handler.refresh()).version).toBe(v1);
    expect(changes).toHaveLength(1);

    service.state.withOwners = true;
    const v2 = (await handler.refresh()).version;
    expect(v2).not.toBe(v1);
    expect(changes[1]).toEqual({ version: v2, addedActions: ['petstore_listOwners'], removedActions: [] });
    expect(registry.has('petstore_listOwners')).toBe(true);

    service.state.withOwners = false;
    const v3 = (await handler.refresh()).version;
    expect(v3).toBe(v1);
    expect(changes[2]).toEqual({ version: v1, addedActions: [], removedActions: ['petstore_listOwners'] });
    expect(registry.has('petstore_listOwners')).toBe(false);
  });

  it('is deterministic across handlers and independent of source order', async () => {
    const a = { name: 'a', spec: petstoreSpec(), baseUrl: 'https://a.example.com' };
    const b = { name: 'b', spec: petstoreSpec({ withOwners: true }), baseUrl: 'https://b.example.com' };
    const one = await make(new ToolRegistry(), [a, b]).refresh();
    const two = await make(new ToolRegistry(), [b, a]).refresh();
    expect(one.version).toBe(two.version);
    expect(one.actions).toHaveLength(21);
  });

  it('keeps the last good catalog while a source is down', async () => {
    const errors: Error[] = [];
    const registry = new ToolRegistry();
    const handler = make(registry, [{ name: 'petstore', specUrl: `${service.url}/openapi.json`, baseUrl: service.url }], errors);
    const before = await handler.refresh();
    service.state.down = true;
    const during = await handler.refresh();
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/503/)]);
    expect(during).toEqual(before);
    expect(registry.has('petstore_getPet')).toBe(true);
    service.state.down = false;
    service.state.withOwners = true;
    const after = await handler.refresh();
    expect(after.actions).toHaveLength(11);
    expect(after.version).not.toBe(before.version);
  });

  it('polls on its own, backs off while the source is down, and recovers', async () => {
    const errors: Error[] = [];
    const handler = make(new ToolRegistry(), [{ name: 'petstore', specUrl: `${service.url}/openapi.json`, baseUrl: service.url, pollIntervalMs: 5 }], errors);
    await handler.start();
    service.state.down = true;
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (errors.length >= 3) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    const change = nextChange(handler);
    service.state.withOwners = true;
    service.state.down = false;
    expect(await change).toMatchObject({ addedActions: ['petstore_listOwners'], removedActions: [] });
    handler.stop();
  });

  it('retries a source whose first load failed', async () => {
    service.state.down = true;
    const errors: Error[] = [];
    const handler = make(new ToolRegistry(), [{ name: 'petstore', specUrl: `${service.url}/openapi.json`, baseUrl: service.url }], errors);
    await handler.start();
    expect((await handler.getCatalog()).services).toEqual([]);
    const change = nextChange(handler);
    service.state.down = false;
    expect((await change).addedActions).toHaveLength(10);
  });

  it('serves GET /code/actions on a Hono app in the reference shape', async () => {
    const registry = new ToolRegistry();
    const catalog = make(registry, [
      { name: 'petstore', specUrl: `${service.url}/openapi.yaml`, baseUrl: service.url },
      { name: 'inline', spec: JSON.stringify(petstoreSpec({ withOwners: true })), baseUrl: 'https://inline.example.com' },
    ]);
    const app = new Hono();
    for (const route of catalog.getRoutes()) {
      (app as unknown as Record<string, (path: string, handler: unknown) => void>)[route.method.toLowerCase()]!(route.path, route.handler);
    }
    const response = await app.request('/code/actions');
    expect(response.status).toBe(200);
    const body = (await response.json()) as CatalogResponse;
    expect(Object.keys(body).sort()).toEqual(['actions', 'services', 'version']);
    expect(body.actions.find((a) => a.name === 'petstore_getPet')).toEqual({
      name: 'petstore_getPet',
      description: 'Get a pet by id',
      service: 'petstore',
      inputSchema: expect.objectContaining({ type: 'object', required: ['petId'] }),
    });
    expect(body.actions.find((a) => a.name === 'petstore_delete_pets_petId')).toMatchObject({ deprecated: true });
    expect(body.actions.find((a) => a.name === 'petstore_listPets')).toMatchObject({ tags: ['pets'] });
    expect(body.services).toEqual([
      { name: 'petstore', specUrl: `${service.url}/openapi.yaml`, lastUpdated: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), actionCount: 10 },
      { name: 'inline', specUrl: '', lastUpdated: expect.any(String), actionCount: 11 },
    ]);
    expect(body.version).toMatch(/^[0-9a-f]{64}$/);
    expect(registry.list()).toHaveLength(21);
  });

  it('filters the catalog per request with allow', async () => {
    const registry = new ToolRegistry();
    const catalog = new CatalogHandler(
      registry,
      { sources: [{ name: 'p', spec: petstoreSpec(), baseUrl: 'https://x.example.com' }] },
      {
        allow: (name, c) => c.req.header('x-role') === 'admin' || name.endsWith('Pets'),
      },
    );
    const app = new Hono();
    for (const r of catalog.getRoutes()) app.on(r.method, r.path, r.handler);
    const user = (await (await app.request('/code/actions')).json()) as CatalogResponse;
    expect(user.actions.map((a) => a.name)).toEqual(['p_listPets']);
    expect(user.services[0]!.actionCount).toBe(1);
    const admin = (await (await app.request('/code/actions', { headers: { 'x-role': 'admin' } })).json()) as CatalogResponse;
    expect(admin.actions).toHaveLength(10);
    expect(admin.version).toBe(user.version);
  });

  it('does not replace a tool registered by someone else', async () => {
    const registry = new ToolRegistry();
    registry.register({ name: 'p_listPets', description: 'mine', parameters: {}, handler: async () => 'mine' });
    const errors: Error[] = [];
    const catalog = make(registry, [{ name: 'p', spec: petstoreSpec(), baseUrl: 'https://x.example.com' }], errors);
    const result = await catalog.refresh();
    expect(result.actions.map((a) => a.name)).not.toContain('p_listPets');
    expect(registry.get('p_listPets')!.description).toBe('mine');
    expect(errors[0]!.message).toMatch(/already registered/);
  });

  it('rejects bad source configs', () => {
    expect(() => new CatalogHandler(new ToolRegistry(), [{ name: 'bad name' }])).toThrow(/invalid/);
    expect(() => new CatalogHandler(new ToolRegistry(), [{ name: 'x' }])).toThrow(/specUrl or spec/);
    expect(
      () =>
        new CatalogHandler(new ToolRegistry(), [
          { name: 'x', spec: {} },
          { name: 'x', spec: {} },
        ]),
    ).toThrow(/two/);
  });
});
