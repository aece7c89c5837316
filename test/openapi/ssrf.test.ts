import { describe, expect, it } from 'vitest';
import { CatalogHandler } from '../../src/openapi/catalog.js';
import { blockedReason, checkUrl } from '../../src/openapi/ssrf.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import type { ExecutionContext } from '../../src/tools/types.js';
import { petstoreSpec, recordingFetch } from './fixtures.js';

const ctx: ExecutionContext = { sessionId: 's_x', callId: 'c_x', toolName: 'x', signal: new AbortController().signal, context: {}, progress() {} };

describe('address checks', () => {
  it.each([
    'http://127.0.0.1/',
    'http://127.1/',
    'http://2130706433/',
    'http://0x7f.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:10.0.0.1]/',
    'http://[fd12:3456::1]/',
    'http://[fe80::1]/',
    'http://10.0.0.5/',
    'http://172.16.0.1/',
    'http://172.31.255.255/',
    'http://192.168.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://100.64.0.1/',
    'http://localhost/',
    'http://LocalHost./',
    'http://api.localhost/',
    'http://metadata.google.internal/',
    'http://db.internal/',
    'ftp://example.com/',
    'http://user:pw@example.com/',
  ])('blocks %s', (url) => {
    expect(blockedReason(new URL(url))).toBeTypeOf('string');
  });

  it.each(['https://example.com/', 'http://93.184.216.34/', 'http://172.32.0.1/', 'http://[2001:db8::1]/', 'http://internal.example.com/'])(
    'allows %s',
    (url) => {
      expect(blockedReason(new URL(url))).toBeUndefined();
    },
  );

  it('allows exactly the host:port of the configured baseUrl', () => {
    const base = new URL('http://10.1.2.3:8080/api');
    expect(checkUrl(new URL('http://10.1.2.3:8080/x'), base)).toBeUndefined();
    expect(checkUrl(new URL('http://10.1.2.3:8081/x'), base)).toMatch(/private/);
    expect(checkUrl(new URL('http://10.1.2.4:8080/x'), base)).toMatch(/private/);
  });
});

describe('SSRF guard on calls (recording fetch, nothing is sent)', () => {
  async function toolsFor(spec: Record<string, unknown>, baseUrl: string | undefined, answer?: Parameters<typeof recordingFetch>[0]) {
    const recorder = recordingFetch(answer);
    const registry = new ToolRegistry();
    const catalog = new CatalogHandler(registry, [{ name: 'svc', spec, ...(baseUrl ? { baseUrl } : {}) }], { fetch: recorder.fetch });
    await catalog.refresh();
    return { registry, requests: recorder.requests };
  }

  it('refuses a redirect to 127.0.0.1 from a public base', async () => {
    const { registry, requests } = await toolsFor(petstoreSpec(), 'https://api.example.com', (url) =>
      url.pathname === '/redirect' ? new Response(null, { status: 302, headers: { location: 'http://127.0.0.1:8080/admin' } }) : new Response('{}'),
    );
    await expect(registry.get('svc_redirectToPet')!.handler({}, ctx)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    expect(requests.map((r) => r.url)).toEqual(['https://api.example.com/redirect']);
  });

  it('refuses the metadata address named by the spec servers', async () => {
    // A spec whose first server is private: never called, although the spec says so.
    const { registry, requests } = await toolsFor(petstoreSpec({ serverUrl: 'http://169.254.169.254/latest' }), undefined);
    await expect(registry.get('svc_listPets')!.handler({}, ctx)).rejects.toMatchObject({
      code: 'UPSTREAM_ERROR',
      details: { reason: 'ssrf', host: '169.254.169.254' },
    });
    expect(requests).toEqual([]);
  });

  it('refuses 10.x from the spec servers and allows it when it is the configured baseUrl', async () => {
    const blocked = await toolsFor(petstoreSpec({ serverUrl: 'http://10.0.0.7:9000' }), undefined);
    await expect(blocked.registry.get('svc_getPet')!.handler({ petId: 1 }, ctx)).rejects.toMatchObject({ details: { reason: 'ssrf' } });
    expect(blocked.requests).toEqual([]);

    const allowed = await toolsFor(
      petstoreSpec(),
      'http://10.0.0.7:9000/v1',
      () => new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } }),
    );
    expect(await allowed.registry.get('svc_getPet')!.handler({ petId: 1 }, ctx)).toEqual({ ok: true });
    expect(allowed.requests.map((r) => r.url)).toEqual(['http://10.0.0.7:9000/v1/pets/1']);
  });

  it('stops after 5 redirects', async () => {
    let n = 0;
    const { registry, requests } = await toolsFor(
      petstoreSpec(),
      'https://api.example.com',
      () => new Response(null, { status: 307, headers: { location: `/hop/${++n}` } }),
    );
    await expect(registry.get('svc_listPets')!.handler({}, ctx)).rejects.toMatchObject({ details: { reason: 'too_many_redirects' } });
    expect(requests).toHaveLength(6);
  });

  it('switches a POST to GET on 303 and keeps it on 307', async () => {
    const seen: string[] = [];
    const { registry } = await toolsFor(petstoreSpec(), 'https://api.example.com', (url, init) => {
      seen.push(`${init?.method} ${url.pathname} ${init?.body ?? ''}`);
      if (url.pathname === '/pets') return new Response(null, { status: 303, headers: { location: '/done' } });
      return new Response('"ok"', { headers: { 'content-type': 'application/json' } });
    });
    expect(await registry.get('svc_createPet')!.handler({ body: { name: 'a' } }, ctx)).toBe('ok');
    expect(seen).toEqual(['POST /pets {"name":"a"}', 'GET /done ']);
  });
});

describe('request building stays inside the service', () => {
  it('refuses path parameters that navigate (. and ..) and encodes the rest', async () => {
    const recorder = recordingFetch(() => new Response('{}', { headers: { 'content-type': 'application/json' } }));
    const registry = new ToolRegistry();
    await new CatalogHandler(registry, [{ name: 'svc', spec: petstoreSpec(), baseUrl: 'https://api.example.com/v1' }], { fetch: recorder.fetch }).refresh();
    const getPet = registry.get('svc_getPet')!;
    for (const petId of ['..', '.']) {
      await expect(getPet.handler({ petId }, ctx)).rejects.toMatchObject({ code: 'TOOL_ARGS_INVALID' });
    }
    await getPet.handler({ petId: '../../admin?x=1#y' }, ctx);
    await getPet.handler({ petId: '%2e%2e' }, ctx);
    expect(recorder.requests.map((r) => r.url)).toEqual([
      'https://api.example.com/v1/pets/..%2F..%2Fadmin%3Fx%3D1%23y',
      'https://api.example.com/v1/pets/%252e%252e',
    ]);
  });

  it('lets the static headers win over header parameters', async () => {
    const seen: Array<string | null> = [];
    const registry = new ToolRegistry();
    const fetchFn = async (_input: string | URL | Request, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('x-request-id'));
      return new Response('{}');
    };
    await new CatalogHandler(registry, [{ name: 'svc', spec: petstoreSpec(), baseUrl: 'https://api.example.com', headers: { 'X-Request-Id': 'fixed' } }], {
      fetch: fetchFn,
    }).refresh();
    await registry.get('svc_getPet')!.handler({ petId: 1, 'X-Request-Id': 'mine' }, ctx);
    expect(seen).toEqual(['fixed']);
  });
});
