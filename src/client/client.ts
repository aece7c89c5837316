import type { FinalPayload, LogPayload } from '../protocol/events.js';
import { backoff, sleep } from './backoff.js';
import { EnclaveError, ProtocolError, SandboxError, sessionError } from './errors.js';
import { EnclaveStream } from './stream.js';
import { Transport, isRetryable } from './transport.js';
import type {
  ApprovalDecisionBody,
  EnclaveClientOptions,
  ExecuteOptions,
  FollowOptions,
  HealthInfo,
  RetryOptions,
  RunResult,
  SessionInfo,
  ToolAnswer,
} from './types.js';

/** A client of an enclave-broker over HTTP; runs in browsers, Node, Bun, Deno and Workers. */
export class EnclaveClient {
  private readonly transport: Transport;
  private readonly retry: RetryOptions | undefined;

  constructor(options: EnclaveClientOptions) {
    this.transport = new Transport(options);
    this.retry = options.retry;
  }

  /**
   * Runs code and resolves to its result. Rejects with an {@link EnclaveError} subclass: the
   * HTTP error's (`AuthenticationError`, `RateLimitError`, `TooManySessionsError`, …), a
   * `SandboxError` with the failed session's `final` error, `CancelledError` or `NetworkError`.
   */
  async execute<T = unknown>(code: string, options: ExecuteOptions = {}): Promise<T> {
    return (await this.run<T>(code, options)).result;
  }

  /**
   * Runs code and resolves to the whole outcome: `{ result, sessionId, stdout, logs, stats }`.
   * Rejects like {@link execute}; a `SandboxError`'s `outcome` holds the failed session's
   * stdout, logs and stats.
   */
  async run<T = unknown>(code: string, options: ExecuteOptions = {}): Promise<RunResult<T>> {
    const stream = this.stream(code, options);
    let final: FinalPayload | undefined;
    let stdout = '';
    const logs: LogPayload[] = [];
    for await (const event of stream) {
      options.onEvent?.(event);
      if (event.type === 'stdout') stdout += event.payload.chunk;
      else if (event.type === 'log') logs.push(event.payload);
      else if (event.type === 'final') final = event.payload;
    }
    const sessionId = stream.sessionId;
    if (!final) throw new ProtocolError('PROTOCOL_ERROR', 'the stream ended without a final event', { sessionId });
    if (final.ok) return { result: final.result as T, sessionId: sessionId!, stdout, logs, stats: final.stats };
    const error = final.error ?? { code: 'INTERNAL_ERROR', message: 'the session failed' };
    const err = sessionError(error.code, error.message, { details: error.details, sessionId });
    if (err instanceof SandboxError) err.outcome = { stdout, logs, stats: final.stats, sessionId };
    throw err;
  }

  /** Runs code and yields its events (`POST /execute`), answering client tools on the way. */
  stream(code: string, options: ExecuteOptions = {}): EnclaveStream {
    const { context, timeout, maxToolCalls, limits } = options;
    return new EnclaveStream(this.deps(), { body: { code, context, timeout, maxToolCalls, limits } }, options);
  }

  /** Follows a session's events after `afterSeq` (`GET /sessions/:id/events?after=`). */
  resume(sessionId: string, afterSeq = 0, options: FollowOptions = {}): EnclaveStream {
    return new EnclaveStream(this.deps(), { sessionId, afterSeq }, options);
  }

  /** The session's status, or `null` when the broker does not know it. */
  async getSession(sessionId: string): Promise<SessionInfo | null> {
    try {
      return await this.transport.json<SessionInfo>(`/sessions/${encodeURIComponent(sessionId)}`, {}, sessionId);
    } catch (err) {
      if (err instanceof EnclaveError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }

  /** Cancels a session; it ends with `CANCELLED`. */
  async cancel(sessionId: string): Promise<void> {
    await this.transport.json(`/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE' }, sessionId);
  }

  /** Answers a client tool call with `result`, or rejects it with `options.error`. */
  async submitToolResult(sessionId: string, callId: string, result: unknown, options: { error?: { message: string; code?: string } } = {}): Promise<void> {
    const answer: ToolAnswer = options.error ? { error: options.error } : { result: result === undefined ? null : result };
    await this.postAnswer(sessionId, callId, answer);
  }

  /** Approves a call that waits for approval (`POST /sessions/:id/approvals`). */
  async approve(sessionId: string, callId: string): Promise<void> {
    await this.postDecision(sessionId, { callId, approve: true });
  }

  /** Rejects a call that waits for approval: it fails in the guest with TOOL_APPROVAL_DENIED and `reason`. */
  async reject(sessionId: string, callId: string, reason?: string): Promise<void> {
    await this.postDecision(sessionId, reason === undefined ? { callId, approve: false } : { callId, approve: false, reason });
  }

  /** `GET /health`. */
  health(): Promise<HealthInfo> {
    return this.transport.json<HealthInfo>('/health');
  }

  private postAnswer(sessionId: string, callId: string, answer: ToolAnswer): Promise<unknown> {
    return this.transport.json(`/sessions/${encodeURIComponent(sessionId)}/tool-result`, { method: 'POST', body: { callId, ...answer } }, sessionId);
  }

  private postDecision(sessionId: string, decision: ApprovalDecisionBody): Promise<unknown> {
    return this.transport.json(`/sessions/${encodeURIComponent(sessionId)}/approvals`, { method: 'POST', body: decision }, sessionId);
  }

  /** Sends `onApproval`'s decision, retrying transient failures; a 409 (decided already) is fine. */
  private async decideWithRetry(sessionId: string, decision: ApprovalDecisionBody): Promise<void> {
    const policy = backoff(this.retry);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.postDecision(sessionId, decision);
        return;
      } catch (err) {
        if (err instanceof EnclaveError && err.code === 'CONFLICT') return;
        if (!isRetryable(err) || attempt > policy.attempts) throw err;
        await sleep(policy.delay(attempt));
      }
    }
  }

  /** Sends a handler's answer, retrying transient failures; a 409 (already settled) is fine. */
  private async submitWithRetry(sessionId: string, callId: string, answer: ToolAnswer): Promise<void> {
    const policy = backoff(this.retry);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.postAnswer(sessionId, callId, answer);
        return;
      } catch (err) {
        if (err instanceof EnclaveError && err.code === 'CONFLICT') return;
        if (!isRetryable(err) || attempt > policy.attempts) throw err;
        await sleep(policy.delay(attempt));
      }
    }
  }

  private deps() {
    return {
      transport: this.transport,
      retry: this.retry,
      submit: (sessionId: string, callId: string, answer: ToolAnswer) => this.submitWithRetry(sessionId, callId, answer),
      decide: (sessionId: string, decision: ApprovalDecisionBody) => this.decideWithRetry(sessionId, decision),
      cancel: (sessionId: string) => this.cancel(sessionId),
    };
  }
}
