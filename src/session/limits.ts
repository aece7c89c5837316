import { BrokerError } from '../protocol/errors.js';
import { utf8Length } from '../util/bytes.js';

/** Every limit of SPEC §6. Broker-wide values; a request may only lower them. */
export interface BrokerLimits {
  timeoutMs: number;
  maxToolCalls: number;
  memoryLimitBytes: number;
  maxStackBytes: number;
  maxStdoutBytes: number;
  maxCodeBytes: number;
  maxResultBytes: number;
  heartbeatIntervalMs: number;
  disconnectGraceMs: number;
  /**
   * Optional: bytes a session may put out in all — the final result, stdout, logs, and the
   * tool-call payloads (arguments sent to tools and results received) together. Exceeding
   * it ends the session with OUTPUT_BUDGET_EXCEEDED. Absent: no such budget.
   */
  outputBudgetBytes?: number;
  /**
   * What a final result larger than `maxResultBytes` does: `error` (the default) ends the
   * session with RESULT_TOO_LARGE; `truncate` cuts it to fit, keeping valid JSON and marking
   * the cuts, and the final event says `truncated: true` (see protocol/truncate.ts). Not a
   * number: a request may set it either way.
   */
  resultOverflow?: 'error' | 'truncate';
}

/** Limits that have no default (absent means unlimited). */
const OPTIONAL_LIMITS: ReadonlySet<string> = new Set(['outputBudgetBytes']);

export const DEFAULT_LIMITS: Readonly<BrokerLimits> = Object.freeze({
  timeoutMs: 30_000,
  maxToolCalls: 100,
  memoryLimitBytes: 64 * 1024 * 1024,
  maxStackBytes: 256 * 1024,
  maxStdoutBytes: 1024 * 1024,
  maxCodeBytes: 1024 * 1024,
  maxResultBytes: 5 * 1024 * 1024,
  heartbeatIntervalMs: 5_000,
  disconnectGraceMs: 30_000,
});

/** Above this the QuickJS stack overflows the host's own stack (NOTES: ≤ 256 KiB is safe). */
export const MAX_STACK_BYTES = 256 * 1024;

/** Broker-wide limits: defaults, overridden by the `limits` option, validated. */
export function brokerLimits(overrides: Partial<BrokerLimits> = {}): BrokerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides) as [Exclude<keyof BrokerLimits, 'resultOverflow'>, number | undefined][]) {
    if (value === undefined) continue;
    if ((key as string) === 'resultOverflow') {
      const mode = value as unknown;
      if (mode !== 'error' && mode !== 'truncate') throw new TypeError("limits.resultOverflow must be 'error' or 'truncate'");
      limits.resultOverflow = mode;
      continue;
    }
    if (!(key in DEFAULT_LIMITS) && !OPTIONAL_LIMITS.has(key)) throw new TypeError(`unknown limit ${JSON.stringify(key)}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || !Number.isInteger(value)) {
      throw new TypeError(`limits.${key} must be a non-negative integer`);
    }
    limits[key] = value;
  }
  if (limits.maxStackBytes > MAX_STACK_BYTES) {
    throw new TypeError(`limits.maxStackBytes must be at most ${MAX_STACK_BYTES} (a larger QuickJS stack overflows the host stack)`);
  }
  return limits;
}

/** A request's limits: each value the smaller of the broker's and the request's. */
export function requestLimits(broker: BrokerLimits, requested: Partial<BrokerLimits> = {}): BrokerLimits {
  const out = { ...broker };
  for (const [key, value] of Object.entries(requested) as [Exclude<keyof BrokerLimits, 'resultOverflow'>, number | undefined][]) {
    if (value === undefined) continue;
    if ((key as string) === 'resultOverflow') {
      // A mode, not a bound: the request chooses.
      const mode = value as unknown;
      if (mode === 'error' || mode === 'truncate') out.resultOverflow = mode;
      continue;
    }
    if (OPTIONAL_LIMITS.has(key)) {
      out[key] = Math.min(broker[key] ?? Infinity, value);
      continue;
    }
    if (!(key in broker)) continue;
    out[key] = Math.min(broker[key]!, value);
  }
  return out;
}

/** Throws PAYLOAD_TOO_LARGE when the code is longer than allowed. */
export function checkCodeSize(code: string, limits: BrokerLimits): void {
  // A UTF-8 byte is at most 3 per UTF-16 unit; count exactly only when it could matter.
  if (code.length * 3 <= limits.maxCodeBytes) return;
  const bytes = utf8Length(code);
  if (bytes > limits.maxCodeBytes) {
    throw new BrokerError('PAYLOAD_TOO_LARGE', `code is ${bytes} bytes; the limit is ${limits.maxCodeBytes}`);
  }
}
