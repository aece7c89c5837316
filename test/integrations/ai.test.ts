import { generateText, jsonSchema, stepCountIs, tool, type ToolSet } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EnclaveBroker } from '../../src/broker.js';
import { EnclaveClient } from '../../src/client/index.js';
import { CodeExecutionError, createCodeTool } from '../../src/integrations/ai.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

/** The model's code: two AI SDK tools (one zod, one JSON Schema) and a server tool of the broker. */
const CODE = `
const weather = await callTool('getWeather', { city: 'Paris' });
const sum = await callTool('add', { a: weather.tempC, b: 10 });
const user = await callTool('users:get', { id: '7' });
console.log('weather', weather.tempC);
console.warn('careful');
return { sum, forecast: weather.forecast, user: user.name };
`;

function finish(unified: 'tool-calls' | 'stop') {
  return {
    finishReason: { unified, raw: unified },
    usage: {
      inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 1, text: 1, reasoning: 0 },
    },
    warnings: [],
  };
}

/** A model that calls the code tool with `code`, then answers with what the tool returned. */
function scriptedModel(code: string) {
  let step = 0;
  const seen: { toolResult?: unknown; descriptions: string[] } = { descriptions: [] };
  const model = new MockLanguageModelV4({
    doGenerate: async (options) => {
      step++;
      const codeTool = options.tools?.find((t) => t.name === 'runCode');
      if (codeTool && 'description' in codeTool && codeTool.description) seen.descriptions.push(codeTool.description);
      if (step === 1) {
        return {
          content: [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'runCode', input: JSON.stringify({ code }) }],
          ...finish('tool-calls'),
        } as never;
      }
      const last = options.prompt[options.prompt.length - 1]!;
      const part = Array.isArray(last.content) ? last.content.find((p) => p.type === 'tool-result') : undefined;
      seen.toolResult = part && 'output' in part ? part.output : undefined;
      return { content: [{ type: 'text', text: `answer: ${JSON.stringify(seen.toolResult)}` }], ...finish('stop') } as never;
    },
  });
  return { model, seen };
}

function aiTools(calls: string[]): ToolSet {
  return {
    getWeather: tool({
      description: 'The weather in a city',
      inputSchema: z.object({ city: z.string().describe('City name') }),
      outputSchema: z.object({ tempC: z.number(), forecast: z.string() }),
      execute: async ({ city }) => {
        calls.push(`getWeather:${city}`);
        return { tempC: 21, forecast: `sunny in ${city}` };
      },
    }),
    add: tool({
      description: 'Adds two numbers',
      inputSchema: jsonSchema<{ a: number; b: number }>({
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      }),
      execute: async ({ a, b }) => {
        calls.push(`add:${a}+${b}`);
        return a + b;
      },
    }),
  };
}

function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({
    name: 'users:get',
    description: 'A user by id',
    parameters: { id: { type: 'string', description: 'User id', required: true } },
    outputSchema: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
    handler: async (args) => ({ id: args.id, name: `user ${String(args.id)}` }),
  });
  return tools;
}

let broker: EnclaveBroker;
let server: TestServer;

beforeAll(async () => {
  broker = new EnclaveBroker({ logger: silentLogger, tools: registry(), runtimePool: false });
  server = await startBroker({ tools: registry(), runtimePool: false });
});
afterAll(async () => {
  await broker.close();
  await server.close();
});

const expected = { sum: 31, forecast: 'sunny in Paris', user: 'user 7' };

describe('createCodeTool with generateText', () => {
  for (const path of ['local broker', 'HTTP client'] as const) {
    it(`runs the model's code, whose tools answer, and hands the result back to the model (${path})`, async () => {
      const calls: string[] = [];
      const target = path === 'local broker' ? { broker } : { client: new EnclaveClient({ baseUrl: server.url }) };
      const runCode = createCodeTool({
        ...target,
        tools: aiTools(calls),
        ...(path === 'HTTP client' ? { declarations: server.broker.tools!.getDocumentation() } : {}),
      });
      const { model, seen } = scriptedModel(CODE);
      const result = await generateText({ model, tools: { runCode }, prompt: 'weather?', stopWhen: stepCountIs(3) });

      expect(calls).toEqual(['getWeather:Paris', 'add:21+10']);
      const toolResult = result.steps[0]!.toolResults[0]!;
      expect(toolResult.output).toMatchObject({ result: expected, logs: ['weather 21', '[warn] careful'] });
      expect((toolResult.output as { stats: { toolCallCount: number } }).stats.toolCallCount).toBe(3);
      expect(seen.toolResult).toEqual({ type: 'json', value: expect.objectContaining({ result: expected }) });
      expect(result.text).toBe(`answer: ${JSON.stringify(seen.toolResult)}`);

      // The description the model saw declares the server tool and both AI SDK tools, with types.
      const description = seen.descriptions[0]!;
      expect(description).toContain('declare function callTool(name: "users:get", args: {');
      expect(description).toContain('}): Promise<{\n  id?: string;\n  name?: string;\n}>;');
      expect(description).toContain('declare function callTool(name: "getWeather", args: {');
      expect(description).toContain('/** City name */');
      expect(description).toContain('}): Promise<{\n  tempC: number;\n  forecast: string;\n}>;');
      expect(description).toMatch(/declare function callTool\(name: "add", args: \{\n {2}a: number;\n {2}b: number;\n\}\)/);
    });
  }

  it('gives the model the error of failed code, with its code and logs', async () => {
    const runCode = createCodeTool({ broker, tools: aiTools([]) });
    const { model, seen } = scriptedModel("console.log('before'); await callTool('getWeather', { city: 42 }); return 1");
    const result = await generateText({ model, tools: { runCode }, prompt: 'go', stopWhen: stepCountIs(3) });
    const content = result.steps[0]!.content.find((p) => p.type === 'tool-error');
    expect(content).toBeDefined();
    const error = (content as { error: unknown }).error;
    expect(error).toBeInstanceOf(CodeExecutionError);
    expect((error as CodeExecutionError).code).toBe('RUNTIME_ERROR');
    expect((error as CodeExecutionError).message).toMatch(/^RUNTIME_ERROR: .*invalid arguments for getWeather/);
    expect((error as CodeExecutionError).message).toContain('Console output:\nbefore');
    expect((error as CodeExecutionError).logs).toEqual(['before']);
    // The model reads the message as the tool's error output.
    expect(JSON.stringify(seen.toolResult)).toContain('invalid arguments for getWeather');
    expect(JSON.stringify(seen.toolResult)).toContain('Console output:');
  });
});

describe('createCodeTool execute', () => {
  it('throws a typed error with the broker code (both paths)', async () => {
    for (const target of [{ broker }, { client: new EnclaveClient({ baseUrl: server.url }) }]) {
      const runCode = createCodeTool(target);
      const err = await Promise.resolve(runCode.execute!({ code: 'return (' }, { toolCallId: 't', messages: [], context: undefined })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CodeExecutionError);
      expect((err as CodeExecutionError).code).toBe('SYNTAX_ERROR');
      expect((err as CodeExecutionError).sessionId).toMatch(/^s_/);
    }
  });

  it('cancels the run when the abortSignal fires (both paths)', async () => {
    for (const target of [{ broker }, { client: new EnclaveClient({ baseUrl: server.url }) }]) {
      let started!: () => void;
      const waiting = new Promise<void>((resolve) => (started = resolve));
      const controller = new AbortController();
      const runCode = createCodeTool({
        ...target,
        tools: {
          wait: tool({
            inputSchema: z.object({}),
            execute: () => {
              started();
              return new Promise(() => undefined);
            },
          }),
        },
      });
      const running = Promise.resolve(
        runCode.execute!(
          { code: "await callTool('wait', {}); return 'never'" },
          { toolCallId: 't', messages: [], abortSignal: controller.signal, context: undefined },
        ),
      ).catch((e: unknown) => e);
      await waiting;
      controller.abort();
      const err = await running;
      expect(err).toBeInstanceOf(CodeExecutionError);
      expect((err as CodeExecutionError).code).toBe('CANCELLED');
    }
  });

  it('rejects a call whose arguments the AI SDK tool’s schema refuses with TOOL_ARGS_INVALID', async () => {
    const runCode = createCodeTool({ broker, tools: aiTools([]) });
    const out = await Promise.resolve(
      runCode.execute!(
        { code: "try { await callTool('getWeather', { city: 42 }); } catch (e) { return e.code }" },
        { toolCallId: 't', messages: [], context: undefined },
      ),
    );
    expect(out).toMatchObject({ result: 'TOOL_ARGS_INVALID' });
  });

  it('passes context and limits, and applies the identity’s permissions to the declarations', async () => {
    const runCode = createCodeTool({ broker, context: { who: 'ann' }, identity: { permissions: ['nothing:*'] } });
    expect(runCode.description).not.toContain('users:get');
    const out = await Promise.resolve(runCode.execute!({ code: 'return context.who' }, { toolCallId: 't', messages: [], context: undefined }));
    expect(out).toMatchObject({ result: 'ann', logs: [] });
    const denied = await Promise.resolve(
      runCode.execute!({ code: "return await callTool('users:get', { id: '1' })" }, { toolCallId: 't', messages: [], context: undefined }),
    ).catch((e: unknown) => e);
    expect((denied as CodeExecutionError).code).toBe('RUNTIME_ERROR');
    expect((denied as CodeExecutionError).message).toContain('users:get');
  });

  it('declares server tools registered after it was made', () => {
    const tools = registry();
    const late = new EnclaveBroker({ logger: silentLogger, tools, runtimePool: false });
    const runCode = createCodeTool({ broker: late, style: 'namespace' });
    expect(runCode.description).not.toContain('later');
    tools.register({ name: 'jobs:later', description: 'Registered later', parameters: {}, handler: async () => 1 });
    expect(runCode.description).toContain('    later(args?: Record<string, never>): Promise<unknown>;');
    expect(runCode.description).toContain('declare const tools: {');
  });

  it('refuses AI SDK tools a broker could never route to the code', () => {
    const withHandler = new EnclaveBroker({ logger: silentLogger, toolHandler: async () => 1, runtimePool: false });
    expect(() => createCodeTool({ broker: withHandler, tools: aiTools([]) })).toThrow(/toolHandler/);
    const clash = new EnclaveBroker({ logger: silentLogger, tools: registry(), runtimePool: false });
    expect(() => createCodeTool({ broker: clash, tools: { 'users:get': tool({ inputSchema: z.object({}), execute: async () => 1 }) } })).toThrow(/users:get/);
    expect(() => createCodeTool({} as never)).toThrow(/broker or a client/);
  });
});
