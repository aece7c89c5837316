/** Parameter serialization per OpenAPI `style` / `explode` (path, query, header, cookie). */
import type { ParamSpec } from './types.js';

type Pairs = Array<[string, string]>;

function primitive(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Percent-encodes, keeping RFC 3986 reserved characters (but `#`) when `allowReserved` is set. */
function encode(text: string, allowReserved = false): string {
  const encoded = encodeURIComponent(text);
  if (!allowReserved) return encoded;
  return encoded.replace(/%(3A|2F|3F|5B|5D|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/gi, (m) => decodeURIComponent(m));
}

/** The value of a path parameter, already percent-encoded (styles simple, label, matrix). */
export function serializePathParam(param: ParamSpec, value: unknown): string {
  const enc = (v: unknown) => encode(primitive(v));
  const { style, explode, name } = param;
  if (param.json) return encode(JSON.stringify(value));
  if (Array.isArray(value)) {
    const items = value.map(enc);
    if (style === 'label') return `.${items.join(explode ? '.' : ',')}`;
    if (style === 'matrix') return explode ? items.map((i) => `;${name}=${i}`).join('') : `;${name}=${items.join(',')}`;
    return items.join(',');
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (style === 'label') {
      return `.${explode ? entries.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('.') : entries.flatMap(([k, v]) => [enc(k), enc(v)]).join(',')}`;
    }
    if (style === 'matrix') {
      return explode ? entries.map(([k, v]) => `;${enc(k)}=${enc(v)}`).join('') : `;${name}=${entries.flatMap(([k, v]) => [enc(k), enc(v)]).join(',')}`;
    }
    return explode ? entries.map(([k, v]) => `${enc(k)}=${enc(v)}`).join(',') : entries.flatMap(([k, v]) => [enc(k), enc(v)]).join(',');
  }
  if (style === 'label') return `.${enc(value)}`;
  if (style === 'matrix') return `;${name}=${enc(value)}`;
  return enc(value);
}

/** Name/value pairs of a query parameter, not yet encoded (styles form, spaceDelimited, pipeDelimited, deepObject). */
export function queryPairs(param: ParamSpec, value: unknown): Pairs {
  const { name, style, explode } = param;
  if (param.json) return [[name, JSON.stringify(value)]];
  if (Array.isArray(value)) {
    const items = value.map(primitive);
    if (explode) return items.map((i) => [name, i]);
    const sep = style === 'spaceDelimited' ? ' ' : style === 'pipeDelimited' ? '|' : ',';
    return [[name, items.join(sep)]];
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (style === 'deepObject') return entries.map(([k, v]) => [`${name}[${k}]`, primitive(v)]);
    if (explode) return entries.map(([k, v]) => [k, primitive(v)]);
    return [[name, entries.flatMap(([k, v]) => [k, primitive(v)]).join(',')]];
  }
  return [[name, primitive(value)]];
}

/** Builds a query string (without `?`) from parameters and their values. */
export function buildQuery(entries: Array<{ param: ParamSpec; value: unknown }>): string {
  const parts: string[] = [];
  for (const { param, value } of entries) {
    for (const [k, v] of queryPairs(param, value)) {
      parts.push(`${encode(k, param.allowReserved)}=${encode(v, param.allowReserved)}`);
    }
  }
  return parts.join('&');
}

/** The value of a header parameter (style simple). */
export function serializeHeaderParam(param: ParamSpec, value: unknown): string {
  if (param.json) return JSON.stringify(value);
  if (Array.isArray(value)) return value.map(primitive).join(',');
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    return param.explode ? entries.map(([k, v]) => `${k}=${primitive(v)}`).join(',') : entries.flatMap(([k, v]) => [k, primitive(v)]).join(',');
  }
  return primitive(value);
}

/** One `name=value` pair of a `Cookie` header (style form). */
export function serializeCookieParam(param: ParamSpec, value: unknown): string {
  const text = Array.isArray(value)
    ? value.map(primitive).join(',')
    : isPlainObject(value)
      ? Object.entries(value)
          .flatMap(([k, v]) => [k, primitive(v)])
          .join(',')
      : primitive(value);
  return `${param.name}=${encodeURIComponent(text)}`;
}
