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
    outputBudgetBytes: nonNegativeInt,
    resultOverflow: z.enum(['error', 'truncate']),
  })
  .partial()
  .strict();

export const filterSchema = z
  .object({
    types: z.array(z.string().max(64)).max(32).optional(),
    blockedTypes: z.array(z.string().max(64)).max(32).optional(),
  })
  .strict();

/**
 * Upstream EnclaveJS's filter (`EventFilterConfig`): `{ mode, rules, alwaysAllow? }`, mapped
 * onto ours by {@link fromUpstreamFilter}.
 */
export const upstreamFilterSchema = z
  .object({
    mode: z.enum(['include', 'exclude']),
    rules: z
      .array(
        z
          .object({
            types: z.object({ types: z.array(z.string().max(64)).max(32) }).optional(),
            content: z.unknown().optional(),
          })
          .passthrough(),
      )
      .max(32),
    alwaysAllow: z.array(z.string().max(64)).max(32).optional(),
    regexTimeoutMs: z.number().optional(),
  })
  .passthrough();

export type UpstreamFilter = z.infer<typeof upstreamFilterSchema>;

/** Upstream's default `alwaysAllow`. */
const UPSTREAM_ALWAYS_ALLOW = ['session_init', 'final'];

/**
 * Our `{ types?, blockedTypes? }` for upstream's filter. Rules are OR-ed by their event types;
 * content patterns are not evaluated, so a rule with one keeps more events, never fewer:
 * - `include`: the union of the rules' types plus `alwaysAllow` (default `session_init` and
 *   `final`); a rule without types (content only) keeps every type, so no type filter.
 * - `exclude`: the union of the types of the rules without content, less `alwaysAllow`.
 * `final` and fatal `error` events are never dropped, whatever the filter.
 */
export function fromUpstreamFilter(filter: UpstreamFilter): { types?: string[]; blockedTypes?: string[] } {
  const always = filter.alwaysAllow ?? UPSTREAM_ALWAYS_ALLOW;
  if (filter.mode === 'include') {
    if (filter.rules.length === 0 || filter.rules.some((r) => !r.types)) return {};
    const types = new Set([...filter.rules.flatMap((r) => r.types!.types), ...always]);
    return { types: [...types] };
  }
  const blocked = new Set(filter.rules.filter((r) => r.types && r.content === undefined).flatMap((r) => r.types!.types));
  for (const t of always) blocked.delete(t);
  return blocked.size > 0 ? { blockedTypes: [...blocked] } : {};
}

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
  /** Ours, or upstream's `{ mode, rules, alwaysAllow? }`. */
  filter: z.union([filterSchema, upstreamFilterSchema]).optional(),
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
  .refine((b) => 'result' in b !== (b.error !== undefined), {
    message: 'exactly one of result and error is required',
  });

/** `POST /sessions/:id/approvals`: the decision on a call that waits for approval. */
export const approvalRequestSchema = z.object({
  callId: z.string().min(1).max(256),
  approve: z.boolean(),
  reason: z.string().max(4096).optional(),
});

export type LimitsInput = z.infer<typeof limitsSchema>;
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;
export type CreateSessionRequest = z.infer<typeof createSessionRequestSchema>;
export type ToolResultRequest = z.infer<typeof toolResultRequestSchema>;
export type ApprovalRequest = z.infer<typeof approvalRequestSchema>;

// ---- Response schemas (the OpenAPI document of `GET /openapi.json` is generated from them) ----

const epochMs = z.number().int().nonnegative();

/** Every error answer of the HTTP API (SPEC §4). */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().meta({ description: 'An error code of SPEC §5, e.g. VALIDATION_ERROR, NOT_FOUND, RATE_LIMITED' }),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

export const successSchema = z.object({ success: z.literal(true) });

export const sessionStatusSchema = z.enum(['pending', 'running', 'completed', 'error']);

/** `GET /sessions/:id`: the reference's `Session`, plus a few extra fields. */
export const sessionInfoSchema = z.looseObject({
  id: z.string(),
  status: sessionStatusSchema,
  createdAt: epochMs,
  expiresAt: epochMs,
  lastSeq: z.number().int().nonnegative().optional(),
  endedAt: epochMs.optional(),
  errorCode: z.string().optional(),
});

export const sessionListSchema = z.object({ sessions: z.array(sessionInfoSchema), total: z.number().int() });

/** `GET /health`: `uptime` in seconds; counts are this process's (or object's). */
export const healthSchema = z.looseObject({
  status: z.literal('ok'),
  uptime: z.number().nonnegative(),
  sessions: z.object({ active: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  pool: z.unknown().optional(),
  store: z.string().optional(),
});

/** `GET /code/actions`: the reference's `CatalogResponse`. */
export const catalogResponseSchema = z.object({
  actions: z.array(
    z.object({
      name: z.string(),
      description: z.string().optional(),
      inputSchema: z.record(z.string(), z.unknown()).optional(),
      service: z.string(),
      tags: z.array(z.string()).optional(),
      deprecated: z.boolean().optional(),
    }),
  ),
  services: z.array(z.object({ name: z.string(), specUrl: z.string(), lastUpdated: z.string(), actionCount: z.number().int().nonnegative() })),
  version: z.string(),
});

const envelope = <T extends string, P extends z.ZodType>(type: T, payload: P) =>
  z.object({
    protocolVersion: z.literal(2),
    sessionId: z.string().regex(/^s_/),
    seq: z.number().int().positive(),
    timestamp: epochMs,
    type: z.literal(type),
    payload,
  });

/** One line of an NDJSON stream (SPEC §3). */
export const streamEventSchema = z.discriminatedUnion('type', [
  envelope(
    'session_init',
    z.object({
      expiresAt: z.string(),
      limits: z.object({
        timeoutMs: z.number().int(),
        maxToolCalls: z.number().int(),
        memoryLimitBytes: z.number().int(),
        maxStdoutBytes: z.number().int(),
      }),
      cancelUrl: z.string(),
      toolResultUrl: z.string(),
      replayUrl: z.string(),
      encryption: z.object({ enabled: z.literal(false) }),
    }),
  ),
  envelope('stdout', z.object({ chunk: z.string() })),
  envelope('log', z.object({ level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string(), data: z.unknown().optional() })),
  envelope(
    'tool_call',
    z.object({
      callId: z.string().regex(/^c_/),
      toolName: z.string(),
      args: z.record(z.string(), z.unknown()),
      handler: z.enum(['server', 'client']),
    }),
  ),
  envelope('tool_result_applied', z.object({ callId: z.string(), ok: z.boolean(), durationMs: z.number().nonnegative() })),
  envelope('tool_progress', z.object({ callId: z.string(), message: z.string().optional(), progress: z.number().optional(), total: z.number().optional() })),
  envelope('approval_required', z.object({ callId: z.string(), toolName: z.string(), args: z.record(z.string(), z.unknown()) })),
  envelope('heartbeat', z.object({ ts: z.string() })),
  envelope('error', z.object({ code: z.string(), message: z.string(), recoverable: z.boolean(), details: z.unknown().optional() })),
  envelope(
    'final',
    z.object({
      ok: z.boolean(),
      result: z.unknown().optional(),
      error: z
        .object({ code: z.string(), message: z.string(), name: z.string().optional(), stack: z.string().optional(), details: z.unknown().optional() })
        .optional(),
      truncated: z.literal(true).optional(),
      stats: z.object({
        durationMs: z.number().nonnegative(),
        toolCallCount: z.number().int().nonnegative(),
        stdoutBytes: z.number().int().nonnegative(),
      }),
    }),
  ),
  envelope('catalog_changed', z.object({ version: z.string(), addedActions: z.array(z.string()), removedActions: z.array(z.string()) })),
]);
