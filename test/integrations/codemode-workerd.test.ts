import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorker, workerModules } from '../helpers/workerd.js';

// @cloudflare/codemode imports `cloudflare:workers`: it loads only in workerd, so these tests
// bundle a Worker (codemode-worker.ts) and run it in a real workerd through Miniflare.
const root = join(import.meta.dirname, '..', '..');
const outdir = join(root, '.scratch', 'codemode-workerd');
let mf: Miniflare;
let url: string;

beforeAll(async () => {
  await bundleWorker('test/integrations/codemode-worker.ts', 'codemode-workerd', ['node:*']);
  mf = new Miniflare({
    ...workerModules(outdir),
    compatibilityFlags: ['nodejs_compat'],
    host: '127.0.0.1',
    port: 0,
  });
  url = (await mf.ready).toString().replace(/\/$/, '');
}, 120_000);
afterAll(() => mf?.dispose());

async function get(path: string) {
  const res = await fetch(`${url}${path}`);
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(String(body.error));
  return body as { calls: string[]; output: unknown; seen: { description?: string; output?: unknown }; text: string };
}

describe('in workerd', () => {
  it("@cloudflare/codemode's own createCodeTool runs the model's code on EnclaveExecutor", async () => {
    const body = await get('/codemode');
    expect(body.calls).toEqual(['getWeather:Paris', 'add:21+10']);
    expect(body.output).toEqual({ result: { sum: 31 }, logs: ['sum 31'] });
    expect(body.seen.output).toEqual({ type: 'json', value: { result: { sum: 31 }, logs: ['sum 31'] } });
    expect(body.seen.description).toContain('declare const codemode');
    expect(body.text).toBe('done');
  });

  it('enclave-broker/ai createCodeTool runs the code, which reaches a server tool through the tools object', async () => {
    const body = await get('/ai');
    expect(body.calls).toEqual(['getWeather:Oslo', 'add:21+5']);
    expect(body.output).toMatchObject({ result: { sum: 26 }, logs: [] });
    expect(body.seen.description).toContain('declare const tools: {');
    expect(body.seen.description).toContain('count(args?: Record<string, never>): Promise<number>;');
    expect(body.seen.description).toContain('declare function callTool(name: "getWeather"');
  });
});
