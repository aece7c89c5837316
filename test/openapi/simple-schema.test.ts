import { Validator } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';
import { simpleCheck } from '../../src/openapi/simple-schema.js';
import { createArgsValidator } from '../../src/openapi/validate.js';
import { McpSchemaValidator } from '../../src/mcp/schema-validator.js';

const SCHEMAS: Record<string, Record<string, unknown>> = {
  add: { type: 'object', properties: { a: { type: 'number', description: 'first' }, b: { type: 'number' } }, required: ['a', 'b'] },
  closed: {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { id: { type: 'integer', minimum: 1 }, tag: { type: ['string', 'null'] }, mode: { enum: ['a', 'b', 1, null] } },
    required: ['id'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      items: { type: 'array', items: { type: 'object', properties: { n: { type: 'number', exclusiveMaximum: 10 } }, required: ['n'] }, maxItems: 3 },
      flag: { type: 'boolean', default: false },
    },
  },
  any: { description: 'anything' },
  constructorKey: { type: 'object', properties: { constructor: { type: 'string' }, toString: { type: 'number' } }, required: ['toString'] },
};

const VALUES: unknown[] = [
  {},
  { a: 1, b: 2 },
  { a: 1 },
  { a: '1', b: 2 },
  { a: 1.5, b: -0 },
  { id: 1 },
  { id: 0 },
  { id: 1.5 },
  { id: 2, tag: null, mode: 'a' },
  { id: 2, tag: 3 },
  { id: 2, mode: 'c' },
  { id: 2, mode: 1 },
  { id: 2, extra: true },
  { items: [{ n: 1 }, { n: 9.99 }] },
  { items: [{ n: 10 }] },
  { items: [{}] },
  { items: [{ n: 1 }, { n: 1 }, { n: 1 }, { n: 1 }] },
  { items: 'not an array', flag: 'x' },
  { constructor: 'x', toString: 1 },
  { toString: 1 },
  {},
  [],
  'text',
  3,
  null,
  JSON.parse('{"__proto__": 1, "a": 1, "b": 2, "id": 1}'),
  { a: 1, b: undefined },
  { a: Number.NaN, b: 1 },
  { a: new Date(0), b: 1 },
];

describe('the fast check of simple JSON Schemas', () => {
  it('accepts only what the full validator accepts, and accepts the common valid values', () => {
    let fastYes = 0;
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const fast = simpleCheck(schema);
      expect(fast, name).toBeTypeOf('function');
      const full = new Validator(schema as never, '2020-12', false);
      for (const value of VALUES) {
        let full_: boolean;
        try {
          full_ = full.validate(value).valid;
        } catch {
          full_ = false; // values JSON cannot hold (undefined) make it throw
        }
        const quick = fast!(value);
        if (quick) {
          fastYes++;
          expect(full_, `${name} ${JSON.stringify(value)}`).toBe(true);
        }
      }
    }
    expect(fastYes).toBeGreaterThan(20);
    expect(simpleCheck(SCHEMAS.add!)!({ a: 1, b: 2 })).toBe(true);
    expect(simpleCheck(SCHEMAS.closed!)!({ id: 2, tag: 'x', mode: null })).toBe(true);
  });

  it('leaves every other schema to the full validator', () => {
    const others = [
      { type: 'object', properties: { a: { $ref: '#/$defs/A' } }, $defs: { A: { type: 'string' } } },
      { anyOf: [{ type: 'string' }, { type: 'number' }] },
      { type: 'string', format: 'email' },
      { type: 'string', minLength: 2 },
      { type: 'object', additionalProperties: { type: 'string' } },
      { type: 'array', items: [{ type: 'string' }] },
      { type: 'object', properties: { a: true } },
      { type: 'number', exclusiveMinimum: true, minimum: 1 },
      { type: 'object', nullable: true },
      { enum: [{ a: 1 }] },
      { type: 'date' },
    ];
    for (const schema of others) expect(simpleCheck(schema), JSON.stringify(schema)).toBeUndefined();
  });

  it('does not change what the argument check answers', () => {
    const check = createArgsValidator(SCHEMAS.closed!);
    expect(check({ id: 2 })).toEqual({ args: { id: 2 }, problems: [] });
    expect(check({ id: 0, extra: 1 }).problems).toEqual([expect.stringMatching(/^id: /), expect.stringMatching(/extra/)]);
    expect(createArgsValidator(SCHEMAS.nested!)({})).toEqual({ args: { flag: false }, problems: [] });
  });

  it('the MCP client’s result check answers as the SDK’s validators do', () => {
    const validate = new McpSchemaValidator().getValidator(SCHEMAS.add as never);
    expect(validate({ a: 1, b: 2 })).toEqual({ valid: true, data: { a: 1, b: 2 }, errorMessage: undefined });
    const bad = validate({ a: 'x', b: 2 });
    expect(bad.valid).toBe(false);
    expect(bad.errorMessage).toMatch(/a/);
    const complex = new McpSchemaValidator().getValidator({ anyOf: [{ type: 'string' }, { type: 'number' }] } as never);
    expect(complex(1).valid).toBe(true);
    expect(complex(true).valid).toBe(false);
  });
});
