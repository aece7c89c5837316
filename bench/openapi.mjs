// Catalog build time for a 500-operation OpenAPI spec (goal: ≤ 200 ms).
// Run: npx tsx bench/openapi.mjs
import { stringify as toYaml } from 'yaml';
import { CatalogHandler } from '../src/openapi/index.ts';
import { ToolRegistry } from '../src/tools/index.ts';

function bigSpec(operations) {
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

const spec = bigSpec(500);
const texts = { object: spec, json: JSON.stringify(spec), yaml: toYaml(spec) };
const runs = 7;
for (const [format, input] of Object.entries(texts)) {
  const times = [];
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const registry = new ToolRegistry();
    const catalog = new CatalogHandler(registry, [{ name: 'bench', spec: input, baseUrl: 'https://api.example.com' }]);
    const t0 = performance.now();
    const result = await catalog.refresh();
    times.push(performance.now() - t0);
    count = result.actions.length;
  }
  times.sort((a, b) => a - b);
  console.log(
    `${format.padEnd(6)} ${count} actions: median ${times[runs >> 1].toFixed(1)} ms, min ${times[0].toFixed(1)}, max ${times[runs - 1].toFixed(1)} ms (${runs} runs)`,
  );
}
