import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { buildClientBundle } from '../helpers/client-bundle.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>client test</title></head><body>
<script type="module">
import { EnclaveClient, EnclaveError } from '/client.js';
window.runInPage = async (baseUrl) => {
  const client = new EnclaveClient({ baseUrl, headers: () => ({ 'x-request-id': 'page-' + Date.now() }) });
  const seen = [];
  const result = await client.execute(
    "const user = await callTool('page:user', { id: 7 }); console.log('got', user.name); return { user, sum: context.a + context.b };",
    {
      context: { a: 1, b: 2 },
      tools: { 'page:user': async (args, ctx) => ({ id: args.id, name: document.title, callId: ctx.callId }) },
      onEvent: (e) => seen.push(e.type),
    },
  );
  let error;
  try { await client.execute('throw new TypeError("bad")'); } catch (e) { error = { isEnclaveError: e instanceof EnclaveError, code: e.code }; }
  return { result, seen, error, health: (await client.health()).status };
};
window.pageReady = true;
</script></body></html>`;

let broker: TestServer;
let site: Server;
let siteUrl: string;
let browser: Browser;

beforeAll(async () => {
  broker = await startBroker({ limits: { heartbeatIntervalMs: 60_000 } });
  const bundle = await buildClientBundle();
  site = createServer((req, res) => {
    if (req.url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(bundle);
    }
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(PAGE);
    }
    res.writeHead(404).end();
  });
  site.listen(0, '127.0.0.1');
  await once(site, 'listening');
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  site?.closeAllConnections();
  site?.close();
  await broker?.close();
});

describe('the client in Chromium', () => {
  it('runs code with a client tool answered in the page (cross-origin, CORS)', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${siteUrl}/`);
    await page.waitForFunction(() => (window as unknown as { pageReady?: boolean }).pageReady === true);
    const out = await page.evaluate((url) => (window as unknown as { runInPage(u: string): Promise<unknown> }).runInPage(url), broker.url);
    expect(errors).toEqual([]);
    expect(out).toMatchObject({
      result: { user: { id: 7, name: 'client test' }, sum: 3 },
      seen: ['session_init', 'tool_call', 'tool_result_applied', 'stdout', 'final'],
      error: { isEnclaveError: true, code: 'RUNTIME_ERROR' },
      health: 'ok',
    });
    expect((out as { result: { user: { callId: string } } }).result.user.callId).toMatch(/^c_/);
    await page.close();
  });
});
