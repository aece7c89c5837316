// A synthetic OpenAPI spec with `operations` operations (from the former bench/openapi.mjs).
export function bigSpec(operations) {
  const paths = {};
  for (let i = 0; i < operations / 5; i++) {
    paths[`/things${i}`] = {
      get: {
        operationId: `listThings${i}`,
        summary: `List things ${i}`,
        tags: ['things'],
        parameters: [{ $ref: '#/components/parameters/Limit' }, { name: 'q', in: 'query', schema: { type: 'string' } }],
      },
      post: {
        operationId: `createThing${i}`,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
      },
    };
    paths[`/things${i}/{id}`] = {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: { operationId: `getThing${i}`, parameters: [{ name: 'X-Trace', in: 'header', schema: { type: 'string' } }] },
      put: {
        operationId: `replaceThing${i}`,
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
      },
      delete: { summary: `Delete thing ${i}` },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'bench', version: '1' },
    paths,
    components: {
      parameters: { Limit: { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, default: 10 } } },
      schemas: {
        Thing: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            note: { type: 'string', nullable: true },
            owner: { $ref: '#/components/schemas/Owner' },
            children: { type: 'array', items: { $ref: '#/components/schemas/Thing' } },
          },
        },
        Owner: { type: 'object', properties: { id: { type: 'integer' }, email: { type: 'string', format: 'email' } } },
      },
    },
  };
}
