import { describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { validateArgs } from '../../src/tools/validate.js';

const handler = async () => null;

describe('ToolRegistry', () => {
  it('registers, gets and lists tools', () => {
    const tools = new ToolRegistry();
    tools.register({ name: 'users:list', description: 'List users', parameters: {}, handler });
    tools.register({ name: 'users:get', description: 'Get a user', parameters: {}, handler });
    expect(tools.get('users:list')?.description).toBe('List users');
    expect(tools.get('nope')).toBeUndefined();
    expect(tools.list().map((t) => t.name)).toEqual(['users:list', 'users:get']);
    expect(tools.unregister('users:get')).toBe(true);
    expect(tools.has('users:get')).toBe(false);
  });

  it('refuses duplicate and invalid names, bad handlers and bad parameter types', () => {
    const tools = new ToolRegistry();
    tools.register({ name: 'a', description: '', parameters: {}, handler });
    expect(() => tools.register({ name: 'a', description: '', parameters: {}, handler })).toThrow(/already registered/);
    for (const name of ['', 'has space', 'x'.repeat(200), 'semi;colon', '__proto__ x']) {
      expect(() => tools.register({ name, description: '', parameters: {}, handler })).toThrow(/invalid tool name/);
    }
    expect(() => tools.register({ name: 'b', description: '', parameters: {}, handler: 5 as never })).toThrow(/handler/);
    expect(() => tools.register({ name: 'c', description: '', parameters: { x: { type: 'date' as never, description: '' } }, handler })).toThrow(
      /invalid type/,
    );
  });

  it('documents tools as TypeScript declarations with JSDoc, optional parameters and defaults', () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'users:list',
      description: 'List all users',
      parameters: {
        limit: { type: 'number', description: 'Max users to return', default: 10 },
        role: { type: 'string', description: 'Role filter', required: true },
        'odd-name': { type: 'array', description: 'Tags' },
      },
      handler,
    });
    const doc = tools.getDocumentation();
    expect(doc).toContain('await callTool(name, args)');
    expect(doc).toContain('/** List all users */');
    expect(doc).toContain('declare function callTool(name: "users:list", args: {');
    expect(doc).toContain('/** Max users to return (default: 10) */');
    expect(doc).toContain('  limit?: number;');
    expect(doc).toContain('  role: string;');
    expect(doc).toContain('  "odd-name"?: unknown[];');
    expect(tools.getDocumentation((name) => name !== 'users:list')).not.toContain('users:list"');
  });

  it('writes no JSDoc line for a parameter without a description (JavaScript callers may leave it out)', () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'bare',
      description: 'Bare parameters',
      parameters: {
        q: { type: 'string' } as never,
        n: { type: 'number', default: 3 } as never,
      },
      handler,
    });
    const doc = tools.getDocumentation();
    expect(doc).not.toContain('undefined');
    expect(doc).toContain('{\n  q?: string;\n  /** (default: 3) */\n  n?: number;\n}');
  });
});

describe('validateArgs', () => {
  const tool = {
    name: 't',
    description: '',
    handler,
    parameters: {
      id: { type: 'string' as const, description: '', required: true },
      limit: { type: 'number' as const, description: '', default: 10 },
      opts: { type: 'object' as const, description: '' },
      tags: { type: 'array' as const, description: '', default: ['a'] },
      on: { type: 'boolean' as const, description: '' },
    },
  };

  it('applies defaults, keeps undeclared arguments and never mutates the input', () => {
    const input = { id: 'x', extra: 1 };
    const { args, problems } = validateArgs(tool, input);
    expect(problems).toEqual([]);
    expect(args).toEqual({ id: 'x', extra: 1, limit: 10, tags: ['a'] });
    expect(input).toEqual({ id: 'x', extra: 1 });
    (args.tags as string[]).push('b');
    expect(tool.parameters.tags.default).toEqual(['a']);
  });

  it('reports missing required arguments and wrong types', () => {
    const { problems } = validateArgs(tool, { limit: '5', opts: [], tags: {}, on: 'yes' });
    expect(problems).toEqual([
      'id is required',
      'limit must be of type number, got string',
      'opts must be of type object, got array',
      'tags must be of type array, got object',
      'on must be of type boolean, got string',
    ]);
    expect(validateArgs(tool, { id: 'x', limit: Number.NaN }).problems).toEqual(['limit must be of type number, got number']);
  });

  it('keeps a __proto__ key as plain data', () => {
    const input = JSON.parse('{"id":"x","__proto__":{"polluted":true}}');
    const { args } = validateArgs(tool, input);
    expect(Object.hasOwn(args, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
