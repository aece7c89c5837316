import { compileFilter, type StreamEvent } from '../protocol/events.js';
import { decodeNdjson } from '../protocol/ndjson.js';
import { backoff, sleep, type Backoff } from './backoff.js';
import { endOnAbort } from './body.js';
import { type EnclaveError, NetworkError, ProtocolError, cancelledError, errorFromResponse } from './errors.js';
import { replayQuery, serverFilter } from './filter.js';
import { answerApproval } from './approvals.js';
import { answerToolCall } from './tools.js';
import { isRefusedForNow, isRetryable, type Transport } from './transport.js';
import type { ApprovalDecisionBody, FollowOptions, RetryOptions, ToolAnswer } from './types.js';

export interface StreamDeps {
  transport: Transport;
  retry: RetryOptions | undefined;
  submit(sessionId: string, callId: string, answer: ToolAnswer): Promise<void>;
  decide(sessionId: string, decision: ApprovalDecisionBody): Promise<void>;
  cancel(sessionId: string): Promise<void>;
}

/** Where the stream starts: a new session (`POST /execute`) or an existing one after a seq. */
export type StreamStart = { body: Record<string, unknown> } | { sessionId: string; afterSeq: number };

/**
 * The events of one session. Iterate it once. Client tool calls are answered as they arrive;
 * a dropped connection is resumed from the last seq seen (no event is yielded twice); aborting
 * `signal` cancels the session on the broker and rejects with `CANCELLED`.
 */
export class EnclaveStream implements AsyncIterable<StreamEvent> {
  /** The session's id, once the broker told it. */
  sessionId: string | undefined;
  /** The highest seq seen so far (resume from here). */
  lastSeq: number;
  private used = false;
  private readonly backoff: Backoff;

  constructor(
    private readonly deps: StreamDeps,
    private readonly start: StreamStart,
    private readonly options: FollowOptions = {},
  ) {
    this.sessionId = 'sessionId' in start ? start.sessionId : undefined;
    this.lastSeq = 'afterSeq' in start ? start.afterSeq : 0;
    this.backoff = backoff(deps.retry);
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.used) throw new TypeError('an EnclaveStream can be iterated only once');
    this.used = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<StreamEvent> {
    const user = this.options.signal;
    if (user?.aborted) throw cancelledError(this.sessionId, user.reason);
    const inner = new AbortController();
    const onAbort = () => inner.abort(user!.reason);
    user?.addEventListener('abort', onAbort, { once: true });
    const accept = compileFilter(this.options.filter);
    if (this.sessionId) this.announce(this.sessionId);
    try {
      let res: Response | undefined = 'body' in this.start ? await this.open(inner.signal) : undefined;
      let failures = 0;
      let lastError: unknown;
      for (;;) {
        if (!res) {
          if (failures > 0) await sleep(this.backoff.delay(failures), inner.signal);
          try {
            res = await this.replay(inner.signal);
          } catch (err) {
            if (inner.signal.aborted || !isRetryable(err)) throw err;
            lastError = err;
            if (++failures > this.backoff.attempts) throw this.lost(err);
            continue;
          }
        }
        try {
          for await (const event of decodeNdjson<StreamEvent>(endOnAbort(res.body!, inner.signal))) {
            if (typeof event?.seq !== 'number' || event.seq <= this.lastSeq) continue;
            this.lastSeq = event.seq;
            if (this.sessionId === undefined && typeof event.sessionId === 'string') this.announce((this.sessionId = event.sessionId));
            failures = 0;
            if (event.type === 'tool_call' && event.payload.handler === 'client') {
              void answerToolCall(event.payload, event.sessionId, this.options, inner.signal, (callId, answer) =>
                this.deps.submit(event.sessionId, callId, answer),
              );
            }
            if (event.type === 'approval_required' && this.options.onApproval) {
              void answerApproval(event.payload, event.sessionId, this.options, inner.signal, (decision) => this.deps.decide(event.sessionId, decision));
            }
            if (!accept || accept(event)) yield event;
            if (event.type === 'final') return;
          }
          lastError = undefined;
        } catch (err) {
          lastError = err;
        }
        res = undefined;
        if (inner.signal.aborted) throw inner.signal.reason;
        if (++failures > this.backoff.attempts) throw this.lost(lastError);
      }
    } catch (err) {
      if (user?.aborted) {
        if (this.sessionId) await this.deps.cancel(this.sessionId).catch(() => undefined);
        throw cancelledError(this.sessionId, user.reason);
      }
      throw err;
    } finally {
      user?.removeEventListener('abort', onAbort);
      // Handlers of a stream that ended (final, break, error) are told to stop.
      inner.abort();
    }
  }

  /** Events the stream must get whatever the caller's filter says (it answers them). */
  private needs(): string[] {
    return this.options.onApproval ? ['tool_call', 'approval_required'] : ['tool_call'];
  }

  /** Tells `onSession` the id, once. */
  private announced = false;
  private announce(sessionId: string): void {
    if (this.announced) return;
    this.announced = true;
    try {
      this.options.onSession?.(sessionId);
    } catch {
      // the caller's callback: its errors are its own
    }
  }

  private lost(cause: unknown): EnclaveError {
    return new NetworkError('NETWORK_ERROR', 'the stream ended before its final event and could not be resumed', {
      sessionId: this.sessionId,
      cause,
    });
  }

  /**
   * Sends `POST /execute`. A 429 or 503 (the broker refused before creating a session) is sent
   * again after its `Retry-After` (else the backoff delay), up to `retry.attempts` times and
   * while the waits fit in `retry.budgetMs`.
   */
  private async open(signal: AbortSignal): Promise<Response> {
    const budget = this.deps.retry?.budgetMs ?? 30_000;
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.openOnce(signal);
      } catch (err) {
        if (!isRefusedForNow(err) || attempt > this.backoff.attempts) throw err;
        const wait = err.retryAfterMs ?? this.backoff.delay(attempt);
        if (waited + wait > budget) throw err;
        waited += wait;
        await sleep(wait, signal);
      }
    }
  }

  private async openOnce(signal: AbortSignal): Promise<Response> {
    if (!('body' in this.start)) return this.replay(signal);
    const body = { ...this.start.body, filter: serverFilter(this.options.filter, this.needs()) };
    // Not aborted with the signal: a session created after an abort must still be cancelled.
    const sent = this.deps.transport.send('/execute', { method: 'POST', body });
    const res = await untilAborted(sent, signal, (late) => {
      void late.body?.cancel().catch(() => undefined);
      const id = late.headers.get('x-session-id');
      if (id) void this.deps.cancel(id).catch(() => undefined);
    });
    if (!res.ok) throw await errorFromResponse(res);
    this.sessionId = res.headers.get('x-session-id') ?? undefined;
    if (this.sessionId) this.announce(this.sessionId);
    return res;
  }

  private async replay(signal: AbortSignal): Promise<Response> {
    const id = this.sessionId;
    if (!id) throw new ProtocolError('PROTOCOL_ERROR', 'the broker did not tell the session id; the stream cannot be resumed');
    const path = `/sessions/${encodeURIComponent(id)}/events${replayQuery(this.lastSeq, serverFilter(this.options.filter, this.needs()))}`;
    const res = await this.deps.transport.send(path, { signal }, id);
    if (!res.ok) throw await errorFromResponse(res, id);
    return res;
  }
}

/** Resolves with `promise`, or rejects once `signal` aborts; a late answer goes to `onLate`. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onLate: (value: T) => void): Promise<T> {
  if (signal.aborted) {
    promise.then(onLate, () => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.then(onLate, () => undefined);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
