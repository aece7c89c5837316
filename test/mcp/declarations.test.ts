import { describe, expect, it } from 'vitest';
import { schemaToTs } from '../../src/tools/json-schema-ts.js';
import { unwrapCallResult } from '../../src/mcp/unwrap.js';
import { searchTools } from '../../src/mcp/search.js';
import type { ToolDefinition } from '../../src/tools/types.js';

describe('JSON Schema → TypeScript for declarations', () => {
  it('inlines local $refs and stops at a cycle', () => {
    const schema = {
      $defs: { Node: { type: 'object', properties: { value: { type: 'number' }, next: { $ref: '#/$defs/Node' } }, required: ['value'] } },
      $ref: '#/$defs/Node',
    };
    expect(schemaToTs(schema)).toBe('{\n  value: number;\n  next?: unknown;\n}');
    expect(schemaToTs({ $ref: '#/nowhere' })).toBe('unknown');
  });

  it('writes unions, intersections, literals, nullables, tuples, records and JSDoc', () => {
    expect(schemaToTs({ oneOf: [{ type: 'string' }, { type: 'integer' }] })).toBe('string | number');
    expect(schemaToTs({ const: 'x' })).toBe('"x"');
    expect(schemaToTs({ enum: [1, 'a', null] })).toBe('1 | "a" | null');
    expect(schemaToTs({ type: 'string', nullable: true })).toBe('string | null');
    expect(schemaToTs({ type: ['number', 'null'] })).toBe('number | null');
    expect(schemaToTs({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false })).toBe('[string, number]');
    expect(schemaToTs({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'boolean' }] } })).toBe('(string | boolean)[]');
    expect(schemaToTs({ type: 'object', additionalProperties: { type: 'number' } })).toBe('{\n  [key: string]: number;\n}');
    expect(schemaToTs({ type: 'object' })).toBe('Record<string, unknown>');
    expect(schemaToTs({ allOf: [{ type: 'object', properties: { a: { type: 'string', description: 'the */ a' } }, required: ['a'] }] })).toBe(
      '{\n  /** the *\\/ a */\n  a: string;\n}',
    );
    expect(schemaToTs(true)).toBe('unknown');
    expect(schemaToTs(false)).toBe('never');
  });
});

describe('MCP tool answers', () => {
  it('unwraps isError, structuredContent, JSON text, plain text and other content', () => {
    expect(() => unwrapCallResult('t', { isError: true, content: [{ type: 'text', text: 'nope' }] })).toThrow(
      expect.objectContaining({ code: 'TOOL_ERROR', message: 'nope' }),
    );
    expect(() => unwrapCallResult('t', { isError: true, content: [] })).toThrow(expect.objectContaining({ code: 'TOOL_ERROR', message: 't failed' }));
    expect(unwrapCallResult('t', { content: [{ type: 'text', text: '{"a":1}' }], structuredContent: { b: 2 } })).toEqual({ b: 2 });
    expect(unwrapCallResult('t', { content: [{ type: 'text', text: ' [1,2] ' }] })).toEqual([1, 2]);
    expect(unwrapCallResult('t', { content: [{ type: 'text', text: '42' }] })).toBe(42);
    expect(unwrapCallResult('t', { content: [{ type: 'text', text: '{not json' }] })).toBe('{not json');
    expect(unwrapCallResult('t', { content: [{ type: 'text', text: 'hello' }] })).toBe('hello');
    const image = [{ type: 'image', data: 'AAAA', mimeType: 'image/png' }];
    expect(unwrapCallResult('t', { content: image })).toEqual(image);
  });
});

describe('search', () => {
  const tool = (name: string, description: string) => ({ name, description, parameters: {}, handler: async () => null }) as ToolDefinition;
  const tools = [tool('users:list', 'List users'), tool('orders:get', 'Get an order of a user'), tool('admin:wipe', 'Delete everything')];
  it('ranks names over descriptions, leaves out tools matching nothing, and lists all for an empty query', () => {
    expect(searchTools(tools, 'user', 10).map((t) => t.name)).toEqual(['users:list', 'orders:get']);
    expect(searchTools(tools, 'zzz', 10)).toEqual([]);
    expect(searchTools(tools, '  ', 2).map((t) => t.name)).toEqual(['users:list', 'orders:get']);
  });
});
