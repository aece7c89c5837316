import * as z from 'zod';

/** Request bodies of the HTTP API; the same schemas validate the programmatic API. */

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const limitsSchema = z
  .object({
    timeoutMs: positiveInt,
    maxToolCalls: nonNegativeInt,
    memoryLimitBytes: positiveInt,
    maxStackBytes: positiveInt,
    maxStdoutBytes: nonNegativeInt,
    maxCodeBytes: positiveInt,
    maxResultBytes: positiveInt,
    heartbeatIntervalMs: positiveInt,
    disconnectGraceMs: nonNegativeInt,
  })
  .partial()
  .strict();

export const filterSchema = z
  .object({
    types: z.array(z.string().max(64)).max(32).optional(),
    blockedTypes: z.array(z.string().max(64)).max(32).optional(),
  })
  .strict();

const contextSchema = z.record(z.string(), z.unknown());

export const executeRequestSchema = z.object({
  code: z.string(),
  timeout: positiveInt.optional(),
  maxToolCalls: nonNegativeInt.optional(),
  context: contextSchema.optional(),
  filter: filterSchema.optional(),
  limits: limitsSchema.optional(),
});

/** `POST /sessions` of upstream EnclaveJS clients. */
export const createSessionRequestSchema = z.object({
  code: z.string(),
  sessionId: z
    .string()
    .regex(/^s_[0-9A-Za-z_-]{1,128}$/, 'sessionId must look like s_…')
    .optional(),
  context: contextSchema.optional(),
  config: z
    .object({
      maxExecutionMs: positiveInt.optional(),
      maxToolCalls: nonNegativeInt.optional(),
      heartbeatIntervalMs: positiveInt.optional(),
    })
    .optional(),
  filter: filterSchema.optional(),
});

export const toolResultRequestSchema = z
  .object({
    callId: z.string().min(1).max(256),
    result: z.unknown().optional(),
    error: z
      .object({
        message: z.string().max(64 * 1024),
        code: z.string().max(128).optional(),
      })
      .optional(),
  })
  .refine((b) => ('result' in b) !== (b.error !== undefined), {
    message: 'exactly one of result and error is required',
  });

export type LimitsInput = z.infer<typeof limitsSchema>;
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;
export type CreateSessionRequest = z.infer<typeof createSessionRequestSchema>;
export type ToolResultRequest = z.infer<typeof toolResultRequestSchema>;
