/**
 * `enclave-broker/codemode`: an `Executor` for `@cloudflare/codemode`. Its users keep its
 * `createCodeTool` (and its generated types) and run the code in this broker's sandbox, with
 * its limits and event stream, on Node, Bun or Workers. The types below follow the
 * `Executor` contract of `@cloudflare/codemode` 0.5 structurally: nothing is imported from it.
 */
import { runOnTarget, assertClientToolsReach, type CodeTarget, type LocalTool, type RunSettings } from './runner.js';

export { CodeExecutionError, isCodeExecutionError } from './errors.js';

/** A tool function of a provider (the sandbox calls it with one argument, as AI SDK tools take). */
export type ProviderFn = (...args: unknown[]) => Promise<unknown>;

/** A namespace of tools the code reaches as `<name>.<tool>(args)` (codemode's `ResolvedProvider`). */
export interface ResolvedProvider {
  name: string;
  fns: Record<string, ProviderFn>;
  /** Guest JavaScript run after the namespace exists (it may add members to it). */
  prelude?: string;
}

/** A codemode connector: any method of `<name>.<method>(args)` goes to `binding.callTool`. */
export interface ConnectorBinding {
  name: string;
  binding: { callTool(method: string, args: unknown): Promise<unknown> };
}

export interface ExecuteResult {
  result: unknown;
  error?: string;
  logs?: string[];
}

export type EnclaveExecutorOptions = CodeTarget & RunSettings;

/** Names the code's own globals hold: a provider may not shadow them. */
const RESERVED = new Set(['callTool', 'console', 'context', 'setTimeout', 'clearTimeout', 'tools', 'globalThis', 'undefined']);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Words a bare identifier cannot be: codemode appends `_` to them (`delete` → `delete_`). */
const JS_RESERVED = new Set(
  (
    'arguments await break case catch class const continue debugger default delete do else enum eval export extends false finally for ' +
    'function if implements import in instanceof interface let new null package private protected public return static super switch ' +
    'this throw true try typeof var void while with yield'
  ).split(' '),
);

/** The name codemode's generated types use for a tool (see its `sanitizeToolName`). */
export function codemodeName(name: string): string {
  let s = name.replace(/[-.\s]/g, '_').replace(/[^A-Za-z0-9_$]/g, '');
  if (!s) return '_';
  if (/^[0-9]/.test(s)) s = `_${s}`;
  return JS_RESERVED.has(s) ? `${s}_` : s;
}

/**
 * Runs codemode's code on an enclave-broker, in this process (`broker`) or over HTTP
 * (`client`). Each provider's functions are client tools of the run, named
 * `<provider>.<function>` in its `tool_call` events, answered here; in the sandbox they are
 * the members of a plain object named for the provider (frozen unless a `prelude` adds to it).
 * Never throws: a failure is `{ result: undefined, error, logs }`.
 */
export class EnclaveExecutor {
  constructor(private readonly options: EnclaveExecutorOptions) {
    if (!options || (!options.broker && !options.client)) throw new TypeError('EnclaveExecutor: pass a broker or a client');
    if (options.broker) assertClientToolsReach(options.broker, [], 'EnclaveExecutor');
  }

  async execute(
    code: string,
    providersOrFns: ResolvedProvider[] | Record<string, ProviderFn>,
    options: { connectors?: ConnectorBinding[]; signal?: AbortSignal } = {},
  ): Promise<ExecuteResult> {
    try {
      const providers: ResolvedProvider[] = Array.isArray(providersOrFns) ? providersOrFns : [{ name: 'codemode', fns: providersOrFns ?? {} }];
      const connectors = options.connectors ?? [];
      const problem = checkNames(providers, connectors);
      if (problem) return { result: undefined, error: problem };
      const tools: Record<string, LocalTool> = {};
      for (const provider of providers) {
        for (const [name, fn] of Object.entries(provider.fns ?? {})) {
          if (typeof fn === 'function') tools[`${provider.name}.${name}`] = (args) => fn(args);
        }
      }
      const byConnector = new Map(connectors.map((c) => [c.name, c.binding]));
      const resolve = (toolName: string): LocalTool | undefined => {
        const dot = toolName.indexOf('.');
        const binding = dot > 0 ? byConnector.get(toolName.slice(0, dot)) : undefined;
        return binding ? (args) => binding.callTool(toolName.slice(dot + 1), args) : undefined;
      };
      const { broker, client, ...settings } = this.options;
      const target = (broker ? { broker } : { client }) as CodeTarget;
      const out = await runOnTarget(target, guestSource(code, providers, connectors), {
        ...settings,
        tools,
        resolveTool: resolve,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { result: out.result, logs: out.logs };
    } catch (err) {
      const e = err as { message?: unknown; logs?: unknown } | null;
      const logs = Array.isArray(e?.logs) ? (e.logs as string[]) : [];
      return { result: undefined, error: typeof e?.message === 'string' ? e.message : String(err), logs };
    }
  }
}

/** `new EnclaveExecutor(options)`. */
export function createExecutor(options: EnclaveExecutorOptions): EnclaveExecutor {
  return new EnclaveExecutor(options);
}

function checkNames(providers: ResolvedProvider[], connectors: ConnectorBinding[]): string | undefined {
  const seen = new Set<string>();
  for (const { name } of [...providers, ...connectors]) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) return `Provider name ${JSON.stringify(name)} is not a valid JavaScript identifier`;
    if (RESERVED.has(name) || JS_RESERVED.has(name)) return `Provider name "${name}" is reserved`;
    if (seen.has(name)) return `Duplicate provider name "${name}"`;
    seen.add(name);
  }
  return undefined;
}

/**
 * The run's code: the namespaces, the preludes, then the code. Codemode hands over an async
 * arrow function (its `normalizeCode` made it one), which is called; anything else is taken
 * as the body of an async function, as the broker runs code.
 */
export function guestSource(code: string, providers: ResolvedProvider[], connectors: ConnectorBinding[]): string {
  const lines: string[] = [];
  for (const provider of providers) {
    const members: [string, string][] = [];
    const keys = new Set<string>();
    for (const name of Object.keys(provider.fns ?? {})) {
      for (const key of [name, codemodeName(name)]) {
        if (keys.has(key)) continue;
        keys.add(key);
        members.push([key, `${provider.name}.${name}`]);
      }
    }
    const body = members.map(([key, tool]) => `${JSON.stringify(key)}: (args) => callTool(${JSON.stringify(tool)}, args === undefined ? {} : args)`).join(', ');
    const object = `{ ${body} }`;
    lines.push(`const ${provider.name} = ${provider.prelude ? object : `Object.freeze(${object})`};`);
  }
  for (const { name } of connectors) {
    lines.push(
      `const ${name} = new Proxy({}, { get: (_, m) => typeof m === 'string' ? (args) => callTool(${JSON.stringify(`${name}.`)} + m, args === undefined ? {} : args) : undefined });`,
    );
  }
  for (const provider of providers) if (provider.prelude) lines.push(provider.prelude);
  const trimmed = code.trim().replace(/;+$/, '');
  if (looksLikeFunction(trimmed)) {
    // An expression that starts like a function: called when it is one, awaited as it is otherwise.
    lines.push(`const __codemodeMain = (${trimmed}\n);`, `return await (typeof __codemodeMain === 'function' ? __codemodeMain() : __codemodeMain);`);
  } else lines.push(`return await (async () => {\n${code}\n})();`);
  return lines.join('\n');
}

function looksLikeFunction(code: string): boolean {
  return /^(async\s*(\(|function\b|[A-Za-z_$][\w$]*\s*=>)|function\b|\([^)]*\)\s*=>)/.test(code);
}
