import wasm from '@jitl/quickjs-wasmfile-release-sync/wasm';
import { createCodeTool as codemodeCodeTool } from '@cloudflare/codemode/ai';
import { generateText, stepCountIs, tool, type ToolSet } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { z } from 'zod';
import { EnclaveBroker } from '../../src/broker.js';
import { createCodeTool } from '../../src/integrations/ai.js';
import { EnclaveExecutor } from '../../src/integrations/codemode.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';

/**
 * A Worker that runs code mode end to end inside workerd, where `@cloudflare/codemode` loads:
 * a mock model calls the code tool, the code calls two tools, the answer flows back.
 * `GET /codemode`: codemode's own createCodeTool with our EnclaveExecutor;
 * `GET /ai`: our createCodeTool, with a server tool reached through the tools object.
 */
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

function model(toolName: string, code: string) {
  let step = 0;
  const seen: { description?: string; output?: unknown } = {};
  const m = new MockLanguageModelV4({
    doGenerate: async (options) => {
      step++;
      if (step === 1) {
        const t = options.tools?.find((x) => x.name === toolName);
        seen.description = t && 'description' in t ? t.description : undefined;
        return {
          content: [{ type: 'tool-call', toolCallId: 'c1', toolName, input: JSON.stringify({ code }) }],
          finishReason: { unified: 'tool-calls', raw: 'tool-calls' },
          usage,
          warnings: [],
        } as never;
      }
      const last = options.prompt[options.prompt.length - 1]!;
      const part = Array.isArray(last.content) ? last.content.find((p) => p.type === 'tool-result') : undefined;
      seen.output = part && 'output' in part ? part.output : undefined;
      return { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] } as never;
    },
  });
  return { m, seen };
}

function aiTools(calls: string[]): ToolSet {
  return {
    getWeather: tool({
      description: 'The weather in a city',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => (calls.push(`getWeather:${city}`), { tempC: 21 }),
    }),
    add: tool({
      description: 'Adds two numbers',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      execute: async ({ a, b }) => (calls.push(`add:${a}+${b}`), a + b),
    }),
  };
}

async function viaCodemode(broker: EnclaveBroker) {
  const calls: string[] = [];
  const codemode = codemodeCodeTool({ tools: aiTools(calls), executor: new EnclaveExecutor({ broker }) });
  // A model's answer as codemode asks for it; codemode normalizes it into an async arrow function.
  const code =
    "const w = await codemode.getWeather({ city: 'Paris' });\nconst s = await codemode.add({ a: w.tempC, b: 10 });\nconsole.log('sum', s);\nreturn { sum: s }";
  const { m, seen } = model('codemode', code);
  const result = await generateText({ model: m, tools: { codemode }, prompt: 'go', stopWhen: stepCountIs(3) });
  return { calls, output: result.steps[0]!.toolResults[0]?.output, seen, text: result.text };
}

async function viaAi(broker: EnclaveBroker) {
  const calls: string[] = [];
  const runCode = createCodeTool({ broker, tools: aiTools(calls), style: 'namespace' });
  const code =
    "const w = await callTool('getWeather', { city: 'Oslo' });\nconst u = await tools.users.count();\nreturn { sum: await callTool('add', { a: w.tempC, b: u }) }";
  const { m, seen } = model('runCode', code);
  const result = await generateText({ model: m, tools: { runCode }, prompt: 'go', stopWhen: stepCountIs(3) });
  return { calls, output: result.steps[0]!.toolResults[0]?.output, seen, text: result.text };
}

export default {
  async fetch(request: Request): Promise<Response> {
    const tools = new ToolRegistry();
    tools.register({ name: 'users:count', description: 'How many users', parameters: {}, outputSchema: { type: 'number' }, handler: async () => 5 });
    const broker = new EnclaveBroker({ wasmModule: wasm, runtimePool: false, logger: silentLogger, tools });
    try {
      const path = new URL(request.url).pathname;
      const body = path === '/codemode' ? await viaCodemode(broker) : await viaAi(broker);
      return Response.json(body);
    } catch (err) {
      return Response.json({ error: String((err as Error)?.stack ?? err) }, { status: 500 });
    } finally {
      await broker.close();
    }
  },
};
