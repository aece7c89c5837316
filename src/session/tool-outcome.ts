import { BrokerError } from '../protocol/errors.js';
import type { ToolSettlement } from '../sandbox/types.js';
import { utf8Length } from '../util/bytes.js';

/**
 * What a tool's return value gives the guest: its JSON (nothing for `undefined`), or a
 * failure when it is not JSON-serializable or larger than `maxResultBytes`.
 */
export function encodeResult(result: unknown, maxResultBytes: number): ToolSettlement {
  if (result === undefined) return { ok: true };
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch (err) {
    return { ok: false, error: { code: 'TOOL_ERROR', message: `the tool result is not JSON-serializable: ${(err as Error).message}` } };
  }
  if (json === undefined) return { ok: true };
  if (utf8Length(json) > maxResultBytes) {
    return { ok: false, error: { code: 'RESULT_TOO_LARGE', message: `the tool result exceeds ${maxResultBytes} bytes` } };
  }
  return { ok: true, resultJson: json };
}

/**
 * What a failed tool call gives the guest: the error's code and message, and its `details` as
 * JSON would carry them (a `Date` becomes its ISO string, functions and `undefined` go). Details
 * that JSON cannot carry (a `BigInt`, a cycle) or that are larger than a tool result may be
 * are left out: the call still fails with its own code.
 */
export function toolError(err: unknown, maxDetailsBytes: number): { code: string; message: string; details?: unknown } {
  // The thrown value is the handler's: reading it may throw too (a getter), and then the call
  // fails plainly instead of never settling.
  try {
    if (err instanceof BrokerError) {
      const out: { code: string; message: string; details?: unknown } = { code: String(err.code), message: String(err.message) };
      const details = jsonDetails(err.details, maxDetailsBytes);
      if (details !== undefined) out.details = details;
      return out;
    }
    const message = err instanceof Error ? String(err.message) : typeof err === 'string' ? err : 'the tool failed';
    return { code: 'TOOL_ERROR', message };
  } catch {
    return { code: 'TOOL_ERROR', message: 'the tool failed' };
  }
}

function jsonDetails(details: unknown, maxBytes: number): unknown {
  if (details === undefined) return undefined;
  try {
    const json = JSON.stringify(details);
    return json === undefined || utf8Length(json) > maxBytes ? undefined : JSON.parse(json);
  } catch {
    return undefined;
  }
}
