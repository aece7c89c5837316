import type { EnclaveBroker } from '../broker.js';
import type { ExecuteOptions as BrokerExecuteOptions } from '../broker-options.js';
import type { EnclaveClient } from '../client/client.js';
import { EnclaveError } from '../client/errors.js';
import type { FinalPayload, FinalStats, ToolCallPayload } from '../protocol/events.js';
import type { BrokerLimits } from '../session/limits.js';
import type { CallerIdentity } from '../tools/types.js';
import { CodeExecutionError } from './errors.js';
import { LogLines } from './logs.js';

/** Where code runs: a broker in this process, or one over HTTP through the client SDK. */
export type CodeTarget = { broker: EnclaveBroker; client?: undefined } | { client: EnclaveClient; broker?: undefined };

/**
 * A function the code may call by name (a client tool: the broker sends the call here). It
 * gets the arguments and a signal that fires when the run ends or is aborted.
 */
export type LocalTool = (args: Record<string, unknown>, signal: AbortSignal) => unknown;

/** How a run is made (each field is passed to the broker as `broker.execute` takes it). */
export interface RunSettings {
  /** The `context` global of the code. */
  context?: Record<string, unknown>;
  /** Execution timeout in ms (may only lower the broker's). */
  timeout?: number;
  maxToolCalls?: number;
  limits?: Partial<BrokerLimits>;
  /** Who runs the code (a local broker only; over HTTP the client's credentials say it). */
  identity?: CallerIdentity;
}

export interface RunOptions extends RunSettings {
  /** Client tools this run answers, by tool name. */
  tools?: Record<string, LocalTool>;
  /** Answers client tool names `tools` does not hold (undefined: `TOOL_NOT_FOUND`). */
  resolveTool?: (name: string) => LocalTool | undefined;
  /** Aborting cancels the session; the run then fails with `CANCELLED`. */
  signal?: AbortSignal;
}

/** What a successful run gives. */
export interface RunOutput {
  /** The code's return value (`undefined` when it returned nothing). */
  result: unknown;
  /** Console output, one entry a line: `console.log` lines as written, others as `[level] message`. */
  logs: string[];
  stats: FinalStats;
  sessionId: string | undefined;
}

/** Runs `code` on the target and resolves to its output; rejects with a {@link CodeExecutionError}. */
export function runOnTarget(target: CodeTarget, code: string, options: RunOptions = {}): Promise<RunOutput> {
  if (target.broker) return runOnBroker(target.broker, code, options);
  if (target.client) return runOnClient(target.client, code, options);
  return Promise.reject(new TypeError('pass a broker (an EnclaveBroker) or a client (an EnclaveClient)'));
}

async function runOnBroker(broker: EnclaveBroker, code: string, options: RunOptions): Promise<RunOutput> {
  const { signal } = options;
  const lookup = toolLookup(options);
  const logs = new LogLines();
  if (signal?.aborted) throw new CodeExecutionError('CANCELLED', 'the run was aborted before it started', { cause: signal.reason });
  const execOptions: BrokerExecuteOptions = {};
  if (options.context !== undefined) execOptions.context = options.context;
  if (options.timeout !== undefined) execOptions.timeout = options.timeout;
  if (options.maxToolCalls !== undefined) execOptions.maxToolCalls = options.maxToolCalls;
  if (options.limits !== undefined) execOptions.limits = options.limits;
  if (options.identity !== undefined) execOptions.identity = options.identity;

  // Aborts the client tools still running when the run ends.
  const running = new AbortController();
  let sessionId: string | undefined;
  let aborted = false;
  const cancel = () => {
    aborted = true;
    if (sessionId) broker.cancel(sessionId, options.identity).catch(() => undefined);
  };
  signal?.addEventListener('abort', cancel, { once: true });
  let final: FinalPayload | undefined;
  try {
    for await (const event of broker.execute(code, execOptions)) {
      switch (event.type) {
        case 'session_init':
          sessionId = event.sessionId;
          if (aborted) cancel();
          break;
        case 'stdout':
          logs.stdout(event.payload);
          break;
        case 'log':
          logs.log(event.payload);
          break;
        case 'tool_call':
          if (event.payload.handler === 'client') {
            const id = event.sessionId;
            void answer(event.payload, lookup, running.signal, (callId, outcome) =>
              broker.submitToolResult(id, callId, outcome.result, {
                ...(outcome.error ? { error: outcome.error } : {}),
                ...(options.identity ? { identity: options.identity } : {}),
              }),
            );
          }
          break;
        case 'final':
          final = event.payload;
          break;
      }
    }
  } catch (err) {
    // The broker refused the run (VALIDATION_ERROR, TOO_MANY_SESSIONS…) before it started.
    const e = err as { code?: unknown; message?: unknown } | null;
    throw new CodeExecutionError(typeof e?.code === 'string' ? e.code : 'INTERNAL_ERROR', typeof e?.message === 'string' ? e.message : String(err), {
      sessionId,
      logs: logs.done(),
      cause: err,
    });
  } finally {
    signal?.removeEventListener('abort', cancel);
    running.abort();
  }
  return outcome(final, sessionId, logs.done());
}

async function runOnClient(client: EnclaveClient, code: string, options: RunOptions): Promise<RunOutput> {
  const { signal } = options;
  const lookup = toolLookup(options);
  const logs = new LogLines();
  let final: FinalPayload | undefined;
  let sessionId: string | undefined;
  type Handler = (args: Record<string, unknown>, ctx: { signal: AbortSignal }) => unknown;
  // The client SDK looks handlers up by own property: a proxy answers every name `lookup` knows.
  const handlers = new Proxy({} as Record<string, Handler>, {
    getOwnPropertyDescriptor: (_, name) => {
      const fn = typeof name === 'string' ? lookup(name) : undefined;
      if (!fn) return undefined;
      const value: Handler = (args, ctx) => fn(args, ctx.signal);
      return { value, writable: false, enumerable: true, configurable: true };
    },
    get: (_, name) => {
      const fn = typeof name === 'string' ? lookup(name) : undefined;
      return fn ? (((args, ctx) => fn(args, ctx.signal)) satisfies Handler) : undefined;
    },
  });
  try {
    await client.execute(code, {
      ...(options.context !== undefined ? { context: options.context } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.maxToolCalls !== undefined ? { maxToolCalls: options.maxToolCalls } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(signal ? { signal } : {}),
      tools: handlers,
      onEvent: (event) => {
        sessionId = event.sessionId;
        if (event.type === 'stdout') logs.stdout(event.payload);
        else if (event.type === 'log') logs.log(event.payload);
        else if (event.type === 'final') final = event.payload;
      },
    });
  } catch (err) {
    if (!final || final.ok) {
      // Not a failed session: an HTTP error, a lost connection, or an abort.
      const code = err instanceof EnclaveError ? err.code : 'INTERNAL_ERROR';
      const message = err instanceof Error ? err.message : String(err);
      throw new CodeExecutionError(code, message, {
        sessionId: sessionId ?? (err instanceof EnclaveError ? err.sessionId : undefined),
        details: err instanceof EnclaveError ? err.details : undefined,
        logs: logs.done(),
        cause: err,
      });
    }
  }
  return outcome(final, sessionId, logs.done());
}

function outcome(final: FinalPayload | undefined, sessionId: string | undefined, logs: string[]): RunOutput {
  if (!final) throw new CodeExecutionError('INTERNAL_ERROR', 'the run ended without a final event', { sessionId, logs });
  if (!final.ok) {
    const error = final.error ?? { code: 'INTERNAL_ERROR', message: 'the run failed' };
    throw new CodeExecutionError(error.code, error.message, { details: error.details, sessionId, logs, stats: final.stats });
  }
  return { result: final.result, logs, stats: final.stats, sessionId };
}

/** Finds a client tool: an own entry of `tools`, else `resolveTool`. */
function toolLookup(options: RunOptions): (name: string) => LocalTool | undefined {
  const { tools = {}, resolveTool } = options;
  return (name) => {
    const own = Object.hasOwn(tools, name) ? tools[name] : undefined;
    return typeof own === 'function' ? own : resolveTool?.(name);
  };
}

/**
 * Client tools reach the code only on a broker that sends unknown names to the caller: not
 * one with a `toolHandler` or `clientTools: false`, and not under a name its registry holds.
 */
export function assertClientToolsReach(broker: EnclaveBroker, names: string[], who: string): void {
  const { toolHandler, clientTools } = broker.options;
  if (toolHandler || clientTools === false) {
    throw new TypeError(
      `${who}: the broker ${toolHandler ? 'has a toolHandler' : 'was built with clientTools: false'}, so the code could not reach tools answered here${names.length ? ` (${names.join(', ')})` : ''}`,
    );
  }
  const taken = names.filter((name) => broker.tools?.has(name));
  if (taken.length > 0) throw new TypeError(`${who}: the broker has server tools named ${taken.join(', ')}: rename the tools answered here`);
}

/** Runs a client tool and sends its answer; never rejects (a late answer is refused and dropped). */
async function answer(
  call: ToolCallPayload,
  lookup: (name: string) => LocalTool | undefined,
  signal: AbortSignal,
  submit: (callId: string, outcome: { result?: unknown; error?: { message: string; code?: string } }) => Promise<void>,
): Promise<void> {
  const fn = lookup(call.toolName);
  let settled: { result?: unknown; error?: { message: string; code?: string } };
  if (typeof fn !== 'function') {
    settled = { error: { code: 'TOOL_NOT_FOUND', message: `no tool named ${JSON.stringify(call.toolName)}` } };
  } else {
    try {
      const result = await fn(call.args ?? {}, signal);
      settled = { result: result === undefined ? null : result };
    } catch (err) {
      settled = { error: toolError(err) };
    }
  }
  if (signal.aborted) return;
  await submit(call.callId, settled).catch(() => undefined);
}

function toolError(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown } | null | undefined;
  let message: string;
  try {
    message = typeof e?.message === 'string' ? e.message : String(err);
  } catch {
    message = 'the tool failed';
  }
  return typeof e?.code === 'string' ? { message, code: e.code } : { message };
}
