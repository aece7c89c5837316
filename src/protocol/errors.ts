/** Error codes of the sandbox, the session, the tools and the HTTP layer (SPEC §5). */
export const ERROR_CODES = [
  // sandbox and session
  'SYNTAX_ERROR',
  'RUNTIME_ERROR',
  'TIMEOUT',
  'MEMORY_LIMIT',
  'STACK_OVERFLOW',
  'MAX_TOOL_CALLS',
  'STDOUT_LIMIT',
  'INVALID_RESULT',
  'RESULT_TOO_LARGE',
  'OUTPUT_BUDGET_EXCEEDED',
  'CANCELLED',
  'SESSION_EXPIRED',
  'SANDBOX_CRASHED',
  'SESSION_LOST',
  'INTERNAL_ERROR',
  // tools
  'TOOL_NOT_FOUND',
  'TOOL_ARGS_INVALID',
  'TOOL_PERMISSION_DENIED',
  'TOOL_ERROR',
  'TOOL_TIMEOUT',
  'UPSTREAM_ERROR',
  'TOOL_APPROVAL_DENIED',
  // HTTP only
  'VALIDATION_ERROR',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'TOO_MANY_SESSIONS',
  'STORE_UNAVAILABLE',
  'AUTH_UNAVAILABLE',
  'NOT_IMPLEMENTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status of each code that an HTTP answer can carry. */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  TOO_MANY_SESSIONS: 503,
  STORE_UNAVAILABLE: 503,
  AUTH_UNAVAILABLE: 503,
  NOT_IMPLEMENTED: 501,
};

/** The code an error status stands for when an answer does not say (client and HTTP layer). */
export const CODE_FOR_STATUS: Readonly<Partial<Record<number, ErrorCode>>> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  501: 'NOT_IMPLEMENTED',
  503: 'TOO_MANY_SESSIONS',
};

/** An error with a code from {@link ERROR_CODES}, safe to show to a client. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly details?: unknown,
    /** Extra response headers (Retry-After, WWW-Authenticate, …). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get status(): number {
    return HTTP_STATUS[this.code as ErrorCode] ?? 500;
  }

  toJSON(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function isBrokerError(err: unknown): err is BrokerError {
  return err instanceof BrokerError;
}

/**
 * A thrown value as text, for logs and messages. The value may come from user code (a tool
 * handler, a listener, a callback) and reading it may throw too (a getter, a `toString`).
 */
export function errorText(err: unknown): string {
  try {
    return err instanceof Error ? String(err.message) : String(err);
  } catch {
    return 'an unreadable error';
  }
}
