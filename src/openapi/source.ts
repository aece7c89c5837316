/** Fetching and building one source: conditional spec requests, parsing, action tools. */
import type { ToolDefinition } from '../tools/types.js';
import { createActionTool, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS, type CallSettings } from './action.js';
import { readCapped } from './body.js';
import { buildActionSpecs } from './operations.js';
import { isJsonSpec, loadSpec, type OpenApiDocument } from './parse.js';
import { yamlParser, type YamlParser } from './yaml.js';
import { resolveBaseUrl } from './servers.js';
import type { ActionSpec, FetchLike, OpenApiSourceConfig } from './types.js';

/** Largest spec document read, bytes. */
export const MAX_SPEC_BYTES = 20 * 1024 * 1024;

export interface BuiltSource {
  actions: ActionSpec[];
  tools: ToolDefinition[];
  warnings: string[];
}

/** What one poll found. */
export type PollResult = { changed: false } | { changed: true; built: BuiltSource };

/** Loads one source's spec, remembering validators (ETag, Last-Modified) for the next poll. */
export class SourceLoader {
  private etag: string | undefined;
  private lastModified: string | undefined;
  private lastText: string | undefined;
  private loadedInline = false;

  constructor(
    readonly config: OpenApiSourceConfig,
    private readonly fetchFn: FetchLike,
    private readonly parseYaml?: YamlParser,
  ) {
    if (!config.specUrl && config.spec === undefined) throw new TypeError(`OpenAPI source ${config.name}: give specUrl or spec`);
    if (config.specUrl) new URL(config.specUrl);
    if (config.baseUrl) new URL(config.baseUrl);
  }

  /** True when polling can find anything new (a URL, not an inline spec). */
  get pollable(): boolean {
    return this.config.spec === undefined;
  }

  async poll(): Promise<PollResult> {
    const { config } = this;
    if (config.spec !== undefined) {
      if (this.loadedInline) return { changed: false };
      const built = this.build(loadSpec(config.spec, await this.parserFor(config.spec)));
      this.loadedInline = true;
      return { changed: true, built };
    }
    const fetched = await this.fetchText(config.specUrl!);
    if (fetched === undefined) return { changed: false };
    const commit = () => {
      this.lastText = fetched.text;
      this.etag = fetched.etag;
      this.lastModified = fetched.lastModified;
    };
    if (fetched.text === this.lastText) {
      commit();
      return { changed: false };
    }
    const built = this.build(loadSpec(fetched.text, await this.parserFor(fetched.text)));
    commit();
    return { changed: true, built };
  }

  /** A YAML parser when the spec is text that is not JSON (loaded on first need). */
  private async parserFor(spec: string | Record<string, unknown>): Promise<YamlParser | undefined> {
    if (typeof spec !== 'string' || isJsonSpec(spec)) return undefined;
    return yamlParser(this.parseYaml);
  }

  /** The spec's text, or undefined when the server answered 304 Not Modified. */
  private async fetchText(specUrl: string): Promise<{ text: string; etag?: string; lastModified?: string } | undefined> {
    const headers = new Headers({ accept: 'application/json, application/yaml, text/yaml, */*;q=0.5' });
    // The static headers (credentials, typically) go only to the host calls go to.
    if (this.config.headers && this.config.baseUrl && new URL(this.config.baseUrl).origin === new URL(specUrl).origin) {
      for (const [k, v] of Object.entries(this.config.headers)) headers.set(k, v);
    }
    if (this.lastText !== undefined) {
      if (this.etag) headers.set('if-none-match', this.etag);
      if (this.lastModified) headers.set('if-modified-since', this.lastModified);
    }
    const response = await this.fetchFn(specUrl, {
      headers,
      signal: AbortSignal.timeout(this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    if (response.status === 304 && this.lastText !== undefined) {
      await response.body?.cancel().catch(() => {});
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`spec ${specUrl} answered ${response.status}`);
    }
    const { text } = await readCapped(response, MAX_SPEC_BYTES);
    return {
      text,
      ...(response.headers.has('etag') ? { etag: response.headers.get('etag')! } : {}),
      ...(response.headers.has('last-modified') ? { lastModified: response.headers.get('last-modified')! } : {}),
    };
  }

  private build(doc: OpenApiDocument): BuiltSource {
    const { config } = this;
    const settings: CallSettings = {
      baseUrl: resolveBaseUrl(doc, config.baseUrl, config.specUrl),
      headers: { ...config.headers },
      fetch: this.fetchFn,
      timeoutMs: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxResponseBytes: config.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    };
    if (config.baseUrl) settings.trustedBase = new URL(config.baseUrl);
    const { actions, warnings } = buildActionSpecs(config.name, doc);
    return { actions, tools: actions.map((a) => createActionTool(a, settings)), warnings };
  }
}
