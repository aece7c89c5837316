import { CODE_FOR_STATUS } from '../protocol/errors.js';
/** Errors the client rejects with. */

/** Codes only the client produces (everything else comes from the broker, SPEC §5). */
export type ClientErrorCode = 'NETWORK_ERROR' | 'PROTOCOL_ERROR';

export interface EnclaveErrorInit {
  details?: unknown;
  sessionId?: string;
  /** HTTP status, when the error is an HTTP answer. */
  status?: number;
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

  constructor(code: string, message: string, init: EnclaveErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.details = init.details;
    this.sessionId = init.sessionId;
    this.status = init.status;
  }
}

export function isEnclaveError(err: unknown): err is EnclaveError {
  return err instanceof EnclaveError;
}

/** The error a cancelled call rejects with: code `CANCELLED`, name `AbortError`. */
export function cancelledError(sessionId: string | undefined, reason?: unknown): EnclaveError {
  const err = new EnclaveError('CANCELLED', 'the call was aborted', { sessionId, cause: reason });
  err.name = 'AbortError';
  return err;
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
  return new EnclaveError(code, message, { details: error?.details, sessionId, status: res.status });
}
