/**
 * The JSON Schema validator the MCP client checks tools' structured results with (against
 * their `outputSchema`): @cfworker/json-schema, which generates no code and so runs on Workers
 * as on Node and Bun, behind the allocation-free yes of simple-schema.ts for the common shapes.
 */
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import { simpleCheck } from '../openapi/simple-schema.js';

export class McpSchemaValidator implements jsonSchemaValidator {
  private readonly full = new CfWorkerJsonSchemaValidator();

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    const full = this.full.getValidator<T>(schema);
    const fast = simpleCheck(schema);
    if (!fast) return full;
    return (input) => (fast(input) ? { valid: true, data: input as T, errorMessage: undefined } : full(input));
  }
}
