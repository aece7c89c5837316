import type { FinalPayload } from '../protocol/events.js';
import { truncateJson } from '../protocol/truncate.js';
import type { SandboxOutcome } from '../sandbox/types.js';
import { utf8Length } from '../util/bytes.js';
import type { BrokerLimits } from './limits.js';
import type { OutputBudget } from './output-budget.js';
import type { SessionError } from './types.js';

/**
 * The outcome a session ends with, from its sandbox's: a result over `maxResultBytes` cut
 * down (`resultOverflow: 'truncate'`), the output budget's failure once it was exceeded (or
 * when the result does not fit in it), and a TIMEOUT that names the calls it waited for.
 */
export function finalOutcome(
  outcome: SandboxOutcome,
  limits: BrokerLimits,
  budget: OutputBudget,
  timeoutMessage: (message: string) => string,
): { outcome: SandboxOutcome; truncated: boolean } {
  let truncated = false;
  const { maxResultBytes, resultOverflow } = limits;
  if (outcome.ok && outcome.resultJson !== undefined && resultOverflow === 'truncate' && utf8Length(outcome.resultJson) > maxResultBytes) {
    const cut = truncateJson(outcome.resultJson, maxResultBytes);
    if (cut === undefined) outcome = { ok: false, error: { code: 'RESULT_TOO_LARGE', message: `the result exceeds ${maxResultBytes} bytes` } };
    else outcome = { ok: true, resultJson: cut };
    truncated = cut !== undefined;
  }
  if (budget.over) outcome = { ok: false, error: budget.over };
  else if (!outcome.ok && outcome.error.code === 'TIMEOUT')
    outcome = { ok: false, error: { ...outcome.error, message: timeoutMessage(outcome.error.message) } };
  else if (outcome.ok && outcome.resultJson !== undefined && !budget.fits(utf8Length(outcome.resultJson))) {
    outcome = { ok: false, error: budget.failure('the result') };
  }
  return { outcome, truncated };
}

/** The `final` event's payload for an outcome, and the result it carries (parsed). */
export function finalPayload(outcome: SandboxOutcome, stats: FinalPayload['stats'], truncated: boolean): { final: FinalPayload; result: unknown } {
  if (outcome.ok) {
    const result = outcome.resultJson === undefined ? undefined : JSON.parse(outcome.resultJson);
    const final: FinalPayload = { ok: true, stats };
    if (outcome.resultJson !== undefined) final.result = result;
    if (truncated) final.truncated = true;
    return { final, result };
  }
  const { code, message, stack, name, details } = outcome.error;
  const error: SessionError = { code, message };
  if (name !== undefined) error.name = name;
  if (stack) error.stack = stack;
  if (details !== undefined) error.details = details;
  return { final: { ok: false, error, stats }, result: undefined };
}
