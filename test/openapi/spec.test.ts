import { describe, expect, it } from 'vitest';
import { parse as fromYaml, stringify as toYaml } from 'yaml';
import { buildActionSpecs } from '../../src/openapi/operations.js';
import { loadSpec } from '../../src/openapi/parse.js';
import { nameFromMethodAndPath, ActionNamer } from '../../src/openapi/naming.js';
import { createActionTool } from '../../src/openapi/action.js';
import { petstoreSpec } from './fixtures.js';
import type { ActionSpec } from '../../src/openapi/types.js';

function actionsOf(spec: Record<string, unknown> | string): Map<string, ActionSpec> {
  const { actions, warnings } = buildActionSpecs('petstore', loadSpec(spec, fromYaml));
  expect(warnings).toEqual([]);
  return new Map(actions.map((a) => [a.name, a]));
}

const NAMES = [
  'petstore_listPets',
  'petstore_createPet',
  'petstore_getPet',
  'petstore_delete_pets_petId',
  'petstore_search',
  'petstore_plantTree',
  'petstore_bigPayload',
  'petstore_slow',
  'petstore_redirectToPet',
  'petstore_redirectAway',
];

describe('spec parsing', () => {
  for (const version of ['3.0', '3.1'] as const) {
    for (const format of ['json', 'yaml', 'object'] as const) {
      it(`reads OpenAPI ${version} as ${format}`, () => {
        const spec = petstoreSpec({ version });
        const input = format === 'object' ? spec : format === 'json' ? JSON.stringify(spec, null, 2) : toYaml(spec);
        const actions = actionsOf(input);
        expect([...actions.keys()]).toEqual(NAMES);
      });
    }
  }

  it('rejects Swagger 2.0 and non-OpenAPI documents', () => {
    expect(() => loadSpec({ swagger: '2.0' })).toThrow(/Swagger 2.0/);
    expect(() => loadSpec('just: yaml', fromYaml)).toThrow(/openapi/);
    // YAML needs a parser (on Workers none is bundled): a clear error without one.
    expect(() => loadSpec('just: yaml')).toThrow(/no YAML parser/);
    expect(() => loadSpec({ openapi: '4.0.0' })).toThrow(/unsupported/);
  });

  it('resolves $refs of parameters, request bodies and schemas', () => {
    const list = actionsOf(petstoreSpec()).get('petstore_listPets')!;
    expect(list.inputSchema.properties).toMatchObject({
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 20, description: 'Page size' },
      tags: { type: 'array', items: { type: 'string' } },
    });
    const create = actionsOf(petstoreSpec()).get('petstore_createPet')!;
    expect(create.inputSchema).toMatchObject({
      type: 'object',
      required: ['body'],
      properties: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
    });
    expect(create.body).toEqual({ argName: 'body', required: true, mediaType: 'application/json' });
    expect(JSON.stringify(create.inputSchema)).not.toContain('#/components');
  });

  it('turns OpenAPI 3.0 nullable into a JSON Schema null type; 3.1 is kept', () => {
    for (const version of ['3.0', '3.1'] as const) {
      const body = actionsOf(petstoreSpec({ version })).get('petstore_createPet')!.inputSchema.properties as Record<string, any>;
      expect(body.body.properties.tag).toEqual({ type: ['string', 'null'] });
    }
  });

  it('keeps recursive schemas finite with $defs', () => {
    const tree = actionsOf(petstoreSpec()).get('petstore_plantTree')!;
    const schema = tree.inputSchema as Record<string, any>;
    expect(schema.properties.body.properties.children.items).toEqual({ $ref: '#/$defs/Node' });
    expect(schema.$defs.Node.properties.children.items).toEqual({ $ref: '#/$defs/Node' });
    const tool = createActionTool(tree, { baseUrl: new URL('http://127.0.0.1/'), headers: {}, fetch, timeoutMs: 1000, maxResponseBytes: 1000 });
    expect(tool.validateArgs!({ body: { value: 'a', children: [{ value: 'b', children: [{ value: 'c' }] }] } }).problems).toEqual([]);
    const bad = tool.validateArgs!({ body: { value: 'a', children: [{ value: 'b', children: [{ value: 3 }] }] } }).problems;
    expect(bad.join('\n')).toMatch(/body\.children\.0\.children\.0\.value/);
  });

  it('handles a $ref cycle through several schemas and a missing $ref target', () => {
    const spec = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {
        '/a': { post: { operationId: 'a', requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/A' } } } } } },
        '/b': { get: { operationId: 'b', parameters: [{ $ref: '#/components/parameters/Missing' }] } },
      },
      components: {
        schemas: {
          A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } },
          B: { type: 'object', properties: { a: { $ref: '#/components/schemas/A' } } },
        },
      },
    };
    const { actions, warnings } = buildActionSpecs('svc', loadSpec(spec));
    expect(actions.map((a) => a.name)).toEqual(['svc_a']);
    expect(warnings.join()).toMatch(/Missing/);
    const schema = actions[0]!.inputSchema as Record<string, any>;
    expect(schema.properties.body.properties.b.properties.a).toEqual({ $ref: '#/$defs/A' });
    expect(Object.keys(schema.$defs)).toEqual(['A']);
  });
});

describe('action naming', () => {
  it('uses <service>_<operationId>, or method and path', () => {
    expect(nameFromMethodAndPath('GET', '/users/{id}')).toBe('get_users_id');
    expect(nameFromMethodAndPath('post', '/v1/user-groups/{group_id}/members')).toBe('post_v1_user_groups_group_id_members');
    const namer = new ActionNamer('svc');
    expect(namer.name('list Users!', 'get', '/x')).toBe('svc_list_Users_');
    expect(namer.name(undefined, 'get', '/users/{id}')).toBe('svc_get_users_id');
    expect(namer.name('get_users_id', 'get', '/other')).toBe('svc_get_users_id_2');
    const long = namer.name('x'.repeat(300), 'get', '/');
    expect(long.length).toBe(128);
    expect(namer.name('x'.repeat(300), 'get', '/')).not.toBe(long);
  });

  it('carries description, tags and deprecated', () => {
    const actions = actionsOf(petstoreSpec());
    expect(actions.get('petstore_createPet')).toMatchObject({ description: 'Create a pet\n\nStores a new pet.', tags: ['pets'] });
    expect(actions.get('petstore_delete_pets_petId')).toMatchObject({ deprecated: true, description: 'Delete a pet', method: 'DELETE' });
    expect(actions.get('petstore_getPet')!.inputSchema).toMatchObject({
      required: ['petId'],
      properties: { petId: { type: 'integer', description: 'The pet' }, 'X-Request-Id': { type: 'string' } },
    });
  });
});

describe('argument validation', () => {
  const settings = { baseUrl: new URL('http://127.0.0.1/'), headers: {}, fetch, timeoutMs: 1000, maxResponseBytes: 1000 };
  const tools = new Map([...actionsOf(petstoreSpec())].map(([name, spec]) => [name, createActionTool(spec, settings)]));

  it('reports missing required arguments and wrong types', () => {
    const getPet = tools.get('petstore_getPet')!;
    expect(getPet.validateArgs!({}).problems).toEqual(['petId is required']);
    expect(getPet.validateArgs!({ petId: 'one' }).problems.join()).toMatch(/^petId: .*integer/);
    expect(getPet.validateArgs!({ petId: 1 }).problems).toEqual([]);
    const create = tools.get('petstore_createPet')!;
    expect(create.validateArgs!({ body: { name: '' } }).problems.join()).toMatch(/body\.name/);
    expect(create.validateArgs!({ body: { name: 'Tom', tag: null } }).problems).toEqual([]);
    expect(create.validateArgs!({ body: { name: 'Tom', age: -1 } }).problems.join()).toMatch(/body\.age/);
  });

  it('applies top-level defaults without mutating the input', () => {
    const list = tools.get('petstore_listPets')!;
    const input = {};
    const { args, problems } = list.validateArgs!(input);
    expect(problems).toEqual([]);
    expect(args).toEqual({ limit: 20 });
    expect(input).toEqual({});
    expect(list.validateArgs!({ limit: 500 }).problems.join()).toMatch(/limit/);
  });

  it('describes the tool for documentation', () => {
    const tool = tools.get('petstore_getPet')!;
    expect(tool).toMatchObject({ name: 'petstore_getPet', description: 'Get a pet by id', parameters: {}, source: 'petstore' });
    expect(tool.inputSchema).toBeDefined();
  });
});
