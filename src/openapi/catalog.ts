/**
 * `CatalogHandler`: keeps the actions of all OpenAPI sources registered in a `ToolRegistry`,
 * polls the specs, and serves `GET /code/actions`.
 *
 * No timers run until `start()`; on Workers, skip `start()` and call `refresh()` from a cron
 * trigger or an alarm (the route loads the sources on first use).
 */
import type { Context } from 'hono';
import type { CatalogChangedPayload } from '../protocol/events.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolDefinition } from '../tools/types.js';
import { sha256Hex } from './hash.js';
import { assertServiceName } from './naming.js';
import { defaultFetch } from './platform-fetch.js';
import { SourceLoader } from './source.js';
import type { ActionSpec, CatalogAction, CatalogResponse, CatalogService, FetchLike, OpenApiSourceConfig } from './types.js';
import { unref } from '../util/timers.js';

export interface CatalogHandlerOptions {
  /**
   * `fetch` for every source without its own. Defaults to the global `fetch`; on Node (the
   * package's Node entry) to node:http with keep-alive for action calls (see fetch.node.ts).
   */
  fetch?: FetchLike;
  /**
   * Parses specs served as YAML. Defaults to the `yaml` package, loaded on first need on Node
   * and Bun; on Workers (where it is left out of the bundle) give one for YAML specs.
   */
  parseYaml?: (text: string) => unknown;
  /** Which actions the caller of `GET /code/actions` may see (permissions). */
  allow?: (actionName: string, c: Context) => boolean;
  /** Longest wait between retries of a failing source, ms. Default 300 000. */
  maxBackoffMs?: number;
  /** First retry delay of a failing source that has no `pollIntervalMs`, ms. Default 1000. */
  retryDelayMs?: number;
  /** Told about failed polls and skipped operations. Defaults to `console.warn`. */
  onError?: (source: string, error: Error) => void;
}

export interface CatalogRoute {
  method: 'GET';
  path: '/code/actions';
  handler: (c: Context) => Promise<Response>;
}

export type CatalogChangeListener = (change: CatalogChangedPayload) => void;

interface SourceState {
  config: OpenApiSourceConfig;
  loader: SourceLoader;
  /** Actions in the catalog (registered), in spec order; undefined until the first good load. */
  actions?: ActionSpec[];
  actionHash?: string;
  lastUpdated?: string;
  failures: number;
  timer?: ReturnType<typeof setTimeout>;
  inFlight?: Promise<boolean>;
}

export class CatalogHandler {
  private readonly states: SourceState[];
  private readonly listeners = new Set<CatalogChangeListener>();
  private readonly options: CatalogHandlerOptions;
  private version: string | undefined;
  private initial: Promise<void> | undefined;
  private running = false;
  /** Serialises catalog updates so concurrent polls cannot interleave. */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: ToolRegistry,
    sources: OpenApiSourceConfig[] | { sources?: OpenApiSourceConfig[] } = [],
    options: CatalogHandlerOptions = {},
  ) {
    this.options = options;
    const list = Array.isArray(sources) ? sources : (sources.sources ?? []);
    const names = new Set<string>();
    this.states = list.map((config) => {
      assertServiceName(config.name);
      if (names.has(config.name)) throw new TypeError(`two OpenAPI sources are named ${config.name}`);
      names.add(config.name);
      const fetchFn = config.fetch ?? options.fetch ?? defaultFetch();
      return { config, loader: new SourceLoader(config, fetchFn, options.parseYaml), failures: 0 };
    });
  }

  /** Loads every source once, then polls those with `pollIntervalMs`. */
  async start(): Promise<void> {
    this.running = true;
    await this.ready();
    for (const state of this.states) if (!state.timer) this.scheduleNext(state, state.actions !== undefined);
  }

  /** Stops polling. Registered actions stay. */
  stop(): void {
    this.running = false;
    for (const state of this.states) {
      if (state.timer) clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /** Polls every source now (for a Workers cron trigger or alarm); resolves to the catalog. */
  async refresh(): Promise<CatalogResponse> {
    await Promise.all(this.states.map((s) => this.poll(s)));
    this.initial ??= Promise.resolve();
    return this.getCatalog();
  }

  /** The catalog; `allow` keeps only the actions a caller may see. Loads the sources on first use. */
  async getCatalog(allow?: (actionName: string) => boolean): Promise<CatalogResponse> {
    await this.ready();
    await this.applying;
    const actions: CatalogAction[] = [];
    const services: CatalogService[] = [];
    for (const state of this.states) {
      if (!state.actions || !state.lastUpdated) continue;
      const visible = allow ? state.actions.filter((a) => allow(a.name)) : state.actions;
      for (const a of visible) {
        const action: CatalogAction = { name: a.name, service: a.service, inputSchema: a.inputSchema };
        if (a.description !== undefined) action.description = a.description;
        if (a.tags) action.tags = a.tags;
        if (a.deprecated) action.deprecated = true;
        actions.push(action);
      }
      services.push({
        name: state.config.name,
        specUrl: state.config.specUrl ?? '',
        lastUpdated: state.lastUpdated,
        actionCount: visible.length,
      });
    }
    return { actions, services, version: await this.currentVersion() };
  }

  /** Routes to mount on a Hono app: `app.on(r.method, r.path, r.handler)`. */
  getRoutes(): CatalogRoute[] {
    return [
      {
        method: 'GET',
        path: '/code/actions',
        handler: async (c: Context) => {
          const allow = this.options.allow;
          const catalog = await this.getCatalog(allow ? (name) => allow(name, c) : undefined);
          return c.json(catalog);
        },
      },
    ];
  }

  /** Called with `{ version, addedActions, removedActions }` when actions are added or removed. */
  onChange(listener: CatalogChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The first load of every source (once). */
  private ready(): Promise<void> {
    this.initial ??= Promise.all(this.states.map((s) => this.poll(s))).then(() => undefined);
    return this.initial;
  }

  private async currentVersion(): Promise<string> {
    this.version ??= await this.computeVersion();
    return this.version;
  }

  /** Hash of the sources' hashes; each source's hash covers its sorted action names only. */
  private computeVersion(): Promise<string> {
    const parts = this.states
      .filter((s) => s.actionHash !== undefined)
      .map((s) => [s.config.name, s.actionHash])
      .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
    return sha256Hex(JSON.stringify(parts));
  }

  private allNames(): Set<string> {
    const names = new Set<string>();
    for (const s of this.states) for (const a of s.actions ?? []) names.add(a.name);
    return names;
  }

  /** Polls one source (joining a poll in flight); true when it succeeded. */
  private poll(state: SourceState): Promise<boolean> {
    state.inFlight ??= this.pollOnce(state).finally(() => {
      state.inFlight = undefined;
    });
    return state.inFlight;
  }

  private async pollOnce(state: SourceState): Promise<boolean> {
    try {
      const result = await state.loader.poll();
      if (result.changed) {
        for (const warning of result.built.warnings) this.report(state, new Error(`skipped ${warning}`));
        const run = this.applying.then(() => this.apply(state, result.built.actions, result.built.tools));
        this.applying = run.catch(() => {});
        await run;
      }
      state.failures = 0;
      state.lastUpdated = new Date().toISOString();
      return true;
    } catch (err) {
      state.failures++;
      this.report(state, err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  /** Swaps a source's tools in the registry, then announces a change of the action set. */
  private async apply(state: SourceState, actions: ActionSpec[], tools: ToolDefinition[]): Promise<void> {
    const before = this.allNames();
    const owned = new Set((state.actions ?? []).map((a) => a.name));
    const kept: ActionSpec[] = [];
    const next = new Set<string>();
    tools.forEach((tool, i) => {
      if (this.registry.has(tool.name) && !owned.has(tool.name)) {
        this.report(state, new Error(`skipped action ${tool.name}: a tool with that name is already registered`));
        return;
      }
      this.registry.unregister(tool.name);
      try {
        this.registry.register(tool);
      } catch (err) {
        this.report(state, err instanceof Error ? err : new Error(String(err)));
        return;
      }
      kept.push(actions[i]!);
      next.add(tool.name);
    });
    for (const name of owned) if (!next.has(name)) this.registry.unregister(name);
    state.actions = kept;
    state.actionHash = await sha256Hex(JSON.stringify([...next].sort()));

    const after = this.allNames();
    const addedActions = [...after].filter((n) => !before.has(n)).sort();
    const removedActions = [...before].filter((n) => !after.has(n)).sort();
    const version = await this.computeVersion();
    const changed = version !== this.version;
    this.version = version;
    if (!changed || (addedActions.length === 0 && removedActions.length === 0)) return;
    for (const listener of [...this.listeners]) {
      try {
        listener({ version, addedActions, removedActions });
      } catch (err) {
        this.report(state, err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  private scheduleNext(state: SourceState, ok: boolean): void {
    if (!this.running) return;
    const interval = state.config.pollIntervalMs;
    let delay: number | undefined;
    if (!ok && state.loader.pollable) {
      const base = interval ?? this.options.retryDelayMs ?? 1000;
      const cap = Math.max(base, this.options.maxBackoffMs ?? 300_000);
      delay = Math.min(base * 2 ** Math.min(Math.max(state.failures - 1, 0), 30), cap);
    } else if (interval && interval > 0 && state.loader.pollable) {
      delay = interval;
    }
    if (delay === undefined) return;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.poll(state).then((success) => this.scheduleNext(state, success));
    }, delay);
    unref(state.timer);
  }

  private report(state: SourceState, error: Error): void {
    const onError = this.options.onError ?? ((name, e) => console.warn(`[openapi] ${name}: ${e.message}`));
    onError(state.config.name, error);
  }
}
