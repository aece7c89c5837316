import { CODE_FOR_STATUS } from '../protocol/errors.js';
import type { FinalPayload, LogPayload } from '../protocol/events.js';
/** Errors the client rejects with. */

/** Codes only the client produces (everything else comes from the broker, SPEC §5). */
export type ClientErrorCode = 'NETWORK_ERROR' | 'PROTOCOL_ERROR';

export interface EnclaveErrorInit {
  details?: unknown;
  sessionId?: string;
  /** HTTP status, when the error is an HTTP answer. */
  status?: number;
  /** The answer's `Retry-After`, in ms (429 and 503 answers). */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * A failure with a broker error code: an HTTP error answer, a session whose `final` failed, a
 * lost connection (`NETWORK_ERROR`) or a cancel (`CANCELLED`, with `name === 'AbortError'`).
 */
export class EnclaveError extends Error {
  override name = 'EnclaveError';
  readonly code: string;
  readonly details: unknown;
  readonly sessionId: string | undefined;
  readonly status: number | undefined;
  /** How long the broker asked to wait before trying again (`Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, init: EnclaveErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.details = init.details;
    this.sessionId = init.sessionId;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** 401 `UNAUTHORIZED` or 403 `FORBIDDEN`: the credentials were refused. */
export class AuthenticationError extends EnclaveError {
  override name = 'AuthenticationError';
}
/** 429 `RATE_LIMITED` (`retryAfterMs` says when to try again). */
export class RateLimitError extends EnclaveError {
  override name = 'RateLimitError';
}
/** 503 `TOO_MANY_SESSIONS`: the broker runs as many sessions as it may. */
export class TooManySessionsError extends EnclaveError {
  override name = 'TooManySessionsError';
}
/** 503 `STORE_UNAVAILABLE` or `AUTH_UNAVAILABLE`, 501 `NOT_IMPLEMENTED`: the broker cannot serve it now. */
export class UnavailableError extends EnclaveError {
  override name = 'UnavailableError';
}
/** 400 `VALIDATION_ERROR`, 413 `PAYLOAD_TOO_LARGE`, 415 `UNSUPPORTED_MEDIA_TYPE`: the request was refused. */
export class RequestError extends EnclaveError {
  override name = 'RequestError';
}
/** 404 `NOT_FOUND`: no such session (or another tenant's), call or route. */
export class NotFoundError extends EnclaveError {
  override name = 'NotFoundError';
}
/** 409 `CONFLICT`: the call or session is already settled. */
export class ConflictError extends EnclaveError {
  override name = 'ConflictError';
}
/**
 * The session ran and failed: its `final.error` (`RUNTIME_ERROR`, `SYNTAX_ERROR`, `TIMEOUT`,
 * `MEMORY_LIMIT`, …). `outcome` holds what it printed and logged before it failed.
 */
export class SandboxError extends EnclaveError {
  override name = 'SandboxError';
  /** Set by `run()`/`execute()`: stdout, logs and stats of the failed session. */
  outcome?: { stdout: string; logs: LogPayload[]; stats: FinalPayload['stats'] | undefined; sessionId: string | undefined };
}
/** `NETWORK_ERROR`: the broker could not be reached, or the stream was lost for good. */
export class NetworkError extends EnclaveError {
  override name = 'NetworkError';
}
/** `PROTOCOL_ERROR`: the broker answered something this client does not understand. */
export class ProtocolError extends EnclaveError {
  override name = 'ProtocolError';
}
/** `CANCELLED`: the call was aborted (its `name` is `AbortError`, like a fetch's). */
export class CancelledError extends EnclaveError {
  override name = 'AbortError';
}

type ErrorClass = new (code: string, message: string, init?: EnclaveErrorInit) => EnclaveError;

const CLASS_FOR_CODE: Readonly<Record<string, ErrorClass>> = {
  UNAUTHORIZED: AuthenticationError,
  FORBIDDEN: AuthenticationError,
  RATE_LIMITED: RateLimitError,
  TOO_MANY_SESSIONS: TooManySessionsError,
  STORE_UNAVAILABLE: UnavailableError,
  AUTH_UNAVAILABLE: UnavailableError,
  NOT_IMPLEMENTED: UnavailableError,
  VALIDATION_ERROR: RequestError,
  PAYLOAD_TOO_LARGE: RequestError,
  UNSUPPORTED_MEDIA_TYPE: RequestError,
  NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
  NETWORK_ERROR: NetworkError,
  PROTOCOL_ERROR: ProtocolError,
  CANCELLED: CancelledError,
};

/** The error of the subclass for `code` (an {@link EnclaveError} for codes without one). */
export function enclaveError(code: string, message: string, init: EnclaveErrorInit = {}): EnclaveError {
  const Class = CLASS_FOR_CODE[code] ?? EnclaveError;
  return new Class(code, message, init);
}

/** A session's failed `final`: a {@link SandboxError} (or `CancelledError` for `CANCELLED`). */
export function sessionError(code: string, message: string, init: EnclaveErrorInit = {}): EnclaveError {
  return code === 'CANCELLED' ? new CancelledError(code, message, init) : new SandboxError(code, message, init);
}

export function isEnclaveError(err: unknown): err is EnclaveError {
  return err instanceof EnclaveError;
}

/** The error a cancelled call rejects with: code `CANCELLED`, name `AbortError`. */
export function cancelledError(sessionId: string | undefined, reason?: unknown): EnclaveError {
  return new CancelledError('CANCELLED', 'the call was aborted', { sessionId, cause: reason });
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Builds an error from an HTTP error answer (`{ error: { code, message, details } }`). */
export async function errorFromResponse(res: Response, sessionId?: string): Promise<EnclaveError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : (CODE_FOR_STATUS[res.status] ?? 'INTERNAL_ERROR');
  const message = typeof error?.message === 'string' ? error.message : `the broker answered HTTP ${res.status}`;
  const init: EnclaveErrorInit = { details: error?.details, sessionId, status: res.status };
  const wait = retryAfterMs(res.headers.get('retry-after'));
  if (wait !== undefined) init.retryAfterMs = wait;
  return enclaveError(code, message, init);
}
