import type { ApprovalRequiredPayload } from '../protocol/events.js';
import type { ApprovalAnswer, ApprovalDecisionBody, FollowOptions } from './types.js';

export type SubmitDecision = (decision: ApprovalDecisionBody) => Promise<void>;

/**
 * Asks `onApproval` about an `approval_required` event and sends its decision: `true`/`false`,
 * or `{ approve, reason }`. `undefined` (or `null`) leaves the call waiting (it is answered
 * elsewhere, e.g. `client.approve()`); a thrown error rejects the call with its message as the
 * reason. Never rejects.
 */
export async function answerApproval(
  request: ApprovalRequiredPayload,
  sessionId: string,
  options: FollowOptions,
  signal: AbortSignal,
  submit: SubmitDecision,
): Promise<void> {
  const onApproval = options.onApproval;
  if (typeof onApproval !== 'function') return;
  let decision: ApprovalDecisionBody | undefined;
  try {
    decision = toDecision(request.callId, await onApproval({ ...request, args: request.args ?? {}, sessionId, signal }));
  } catch (err) {
    const message = (err as { message?: unknown } | null)?.message;
    decision = { callId: request.callId, approve: false, reason: typeof message === 'string' ? message : String(err) };
  }
  if (!decision || signal.aborted) return;
  await submit(decision).catch(() => undefined);
}

function toDecision(callId: string, answer: ApprovalAnswer | null | undefined): ApprovalDecisionBody | undefined {
  if (answer === undefined || answer === null) return undefined;
  if (typeof answer === 'boolean') return { callId, approve: answer };
  if (typeof answer === 'object') {
    const decision: ApprovalDecisionBody = { callId, approve: answer.approve === true };
    if (typeof answer.reason === 'string') decision.reason = answer.reason;
    return decision;
  }
  return { callId, approve: false, reason: 'onApproval answered neither true, false nor { approve }' };
}
