/** An OpenAPI document → one `ActionSpec` per operation. */
import { ActionNamer } from './naming.js';
import { isOas30, type OpenApiDocument } from './parse.js';
import { followRef, isObject, SchemaDereferencer } from './refs.js';
import { convertOas30Schema, convertOas31Schema } from './schema.js';
import type { ActionSpec, BodySpec, ParamLocation, ParamSpec } from './types.js';

type JsonObject = Record<string, unknown>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const LOCATIONS = new Set<ParamLocation>(['path', 'query', 'header', 'cookie']);
const DEFAULT_STYLE: Record<ParamLocation, string> = { path: 'simple', query: 'form', header: 'simple', cookie: 'form' };

export interface BuildResult {
  actions: ActionSpec[];
  /** Operations that were skipped, and why. */
  warnings: string[];
}

/** Picks the media type a body is sent as: JSON first, then form, then text, then the first one. */
export function pickMediaType(content: JsonObject): string | undefined {
  const types = Object.keys(content);
  return (
    types.find((t) => t.toLowerCase() === 'application/json') ??
    types.find((t) => /^application\/([\w.-]+\+)?json\b/i.test(t)) ??
    types.find((t) => t.toLowerCase() === 'application/x-www-form-urlencoded') ??
    types.find((t) => t.toLowerCase().startsWith('text/')) ??
    types[0]
  );
}

function describe(op: JsonObject): string | undefined {
  const summary = typeof op.summary === 'string' ? op.summary.trim() : '';
  const description = typeof op.description === 'string' ? op.description.trim() : '';
  if (summary && description && description !== summary) return `${summary}\n\n${description}`;
  return summary || description || undefined;
}

/** The schema of an operation's success answer in JSON (the first 2xx that has one), if any. */
function successSchema(doc: OpenApiDocument, op: JsonObject): unknown {
  const responses = isObject(op.responses) ? op.responses : {};
  const codes = Object.keys(responses)
    .filter((c) => /^2(\d\d|XX)$/i.test(c))
    .sort();
  for (const code of codes) {
    const response = followRef<JsonObject>(doc, responses[code]);
    const content = isObject(response?.content) ? response.content : undefined;
    const type = content && Object.keys(content).find((t) => /^application\/([\w.-]+\+)?json\b/i.test(t));
    if (!content || !type) continue;
    const media = followRef<JsonObject>(doc, content[type]);
    if (isObject(media) && media.schema !== undefined) return media.schema;
  }
  return undefined;
}

/** Parameters of the path item, overridden by the operation's own (same `in` and `name`). */
function mergedParameters(doc: OpenApiDocument, pathItem: JsonObject, op: JsonObject): JsonObject[] {
  const byKey = new Map<string, JsonObject>();
  for (const list of [pathItem.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const param = followRef<JsonObject>(doc, raw);
      if (!isObject(param) || typeof param.name !== 'string' || !LOCATIONS.has(param.in as ParamLocation)) continue;
      byKey.set(`${param.in}:${param.name}`, param);
    }
  }
  return [...byKey.values()];
}

/** Builds the action specs of a document. */
export function buildActionSpecs(service: string, doc: OpenApiDocument): BuildResult {
  const convert = isOas30(doc) ? convertOas30Schema : convertOas31Schema;
  const deref = new SchemaDereferencer(doc, convert);
  const namer = new ActionNamer(service);
  const actions: ActionSpec[] = [];
  const warnings: string[] = [];
  const paths = isObject(doc.paths) ? doc.paths : {};

  for (const [path, rawItem] of Object.entries(paths)) {
    let pathItem: JsonObject;
    try {
      pathItem = followRef<JsonObject>(doc, rawItem);
    } catch (err) {
      warnings.push(`${path}: ${(err as Error).message}`);
      continue;
    }
    if (!isObject(pathItem)) continue;
    for (const method of HTTP_METHODS) {
      const op = pathItem[method];
      if (!isObject(op)) continue;
      try {
        actions.push(buildOne(doc, deref, namer, service, method, path, pathItem, op));
      } catch (err) {
        warnings.push(`${method.toUpperCase()} ${path}: ${(err as Error).message}`);
      }
    }
  }
  return { actions, warnings };
}

function buildOne(
  doc: OpenApiDocument,
  deref: SchemaDereferencer,
  namer: ActionNamer,
  service: string,
  method: string,
  path: string,
  pathItem: JsonObject,
  op: JsonObject,
): ActionSpec {
  const properties: JsonObject = {};
  const required: string[] = [];
  const defs: JsonObject = {};
  const params: ParamSpec[] = [];

  const schemaOf = (raw: unknown, description: unknown, extra?: JsonObject): JsonObject => {
    const { schema, defs: found } = deref.deref(raw ?? {});
    Object.assign(defs, found);
    const out: JsonObject = isObject(schema) ? { ...schema } : {};
    if (typeof description === 'string' && description && out.description === undefined) out.description = description;
    return { ...out, ...extra };
  };

  for (const param of mergedParameters(doc, pathItem, op)) {
    const location = param.in as ParamLocation;
    const name = param.name as string;
    let rawSchema = param.schema;
    let json = false;
    if (rawSchema === undefined && isObject(param.content)) {
      const mediaType = Object.keys(param.content)[0];
      const media = mediaType ? followRef<JsonObject>(doc, param.content[mediaType]) : undefined;
      rawSchema = isObject(media) ? media.schema : undefined;
      json = true;
    }
    const argName = Object.hasOwn(properties, name) || name === '$defs' ? `${location}_${name}` : name;
    const isRequired = location === 'path' || param.required === true;
    properties[argName] = schemaOf(rawSchema, param.description, param.deprecated === true ? { deprecated: true } : undefined);
    if (isRequired) required.push(argName);
    const style = typeof param.style === 'string' ? param.style : DEFAULT_STYLE[location];
    params.push({
      name,
      argName,
      in: location,
      required: isRequired,
      style,
      explode: typeof param.explode === 'boolean' ? param.explode : style === 'form',
      allowReserved: param.allowReserved === true,
      json,
    });
  }

  let body: BodySpec | undefined;
  if (op.requestBody !== undefined) {
    const requestBody = followRef<JsonObject>(doc, op.requestBody);
    const content = isObject(requestBody?.content) ? requestBody.content : {};
    const mediaType = pickMediaType(content);
    if (mediaType) {
      const media = followRef<JsonObject>(doc, content[mediaType]);
      const argName = Object.hasOwn(properties, 'body') ? 'requestBody' : 'body';
      properties[argName] = schemaOf(isObject(media) ? media.schema : undefined, requestBody.description);
      body = { argName, required: requestBody.required === true, mediaType };
      if (body.required) required.push(argName);
    }
  }

  const inputSchema: JsonObject = { type: 'object', properties };
  if (required.length) inputSchema.required = required;
  if (Object.keys(defs).length) inputSchema.$defs = defs;

  const action: ActionSpec = {
    name: namer.name(op.operationId, method, path),
    service,
    method: method.toUpperCase(),
    path,
    inputSchema,
    params,
  };
  const description = describe(op);
  if (description) action.description = description;
  if (Array.isArray(op.tags)) {
    const tags = op.tags.filter((t): t is string => typeof t === 'string');
    if (tags.length) action.tags = tags;
  }
  if (op.deprecated === true) action.deprecated = true;
  if (body) action.body = body;
  const success = successSchema(doc, op);
  if (success !== undefined) {
    const { schema, defs: outputDefs } = deref.deref(success);
    if (isObject(schema)) action.outputSchema = Object.keys(outputDefs).length ? { ...schema, $defs: outputDefs } : schema;
  }
  return action;
}
