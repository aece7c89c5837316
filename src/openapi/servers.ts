/** Where an action's requests go: the source's `baseUrl`, else the spec's first server. */
import type { OpenApiDocument } from './parse.js';
import { isObject } from './refs.js';

/** The first `servers` entry with its variables set to their defaults. */
function firstServer(doc: OpenApiDocument): string | undefined {
  const servers = Array.isArray(doc.servers) ? doc.servers : [];
  const server = servers[0];
  if (!isObject(server) || typeof server.url !== 'string') return undefined;
  const variables = isObject(server.variables) ? server.variables : {};
  return server.url.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const variable = variables[name];
    return isObject(variable) && variable.default !== undefined ? String(variable.default) : '';
  });
}

/**
 * The base URL of calls: `baseUrl` when configured, else the spec's first server (relative
 * ones resolved against `specUrl`), else the origin of `specUrl`.
 */
export function resolveBaseUrl(doc: OpenApiDocument, baseUrl?: string, specUrl?: string): URL {
  if (baseUrl) return new URL(baseUrl);
  const server = firstServer(doc);
  if (server !== undefined) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(server)) return new URL(server);
    if (specUrl) return new URL(server, specUrl);
  }
  if (specUrl) return new URL('/', specUrl);
  throw new Error('no base URL: set baseUrl, or give the spec an absolute servers[0].url');
}
