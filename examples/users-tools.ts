import { ToolRegistry } from '../src/tools/registry.js';

/** The reference's example tools: `users:list` and `users:get`. */
export function exampleTools(): ToolRegistry {
  const users = [
    { id: '1', name: 'Alice' },
    { id: '2', name: 'Bob' },
  ];
  const tools = new ToolRegistry();
  tools.register({
    name: 'users:list',
    description: 'List users',
    parameters: {
      limit: { type: 'number', description: 'Max results', default: 10 },
    },
    handler: async (args) => users.slice(0, Number(args.limit)),
  });
  tools.register({
    name: 'users:get',
    description: 'Get user by ID',
    parameters: {
      id: { type: 'string', description: 'User ID', required: true },
    },
    handler: async (args) => users.find((u) => u.id === args.id) ?? null,
  });
  return tools;
}
