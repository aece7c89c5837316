import type { ToolProgressPayload } from '../protocol/events.js';
import type { ToolProgress } from '../tools/types.js';
import { unref } from '../util/timers.js';

/** At most one `tool_progress` event per call in this window (ms). */
const PROGRESS_INTERVAL_MS = 100;
const MAX_PROGRESS_MESSAGE = 1024;

type ProgressState = { last: number; pending?: ToolProgressPayload; timer?: ReturnType<typeof setTimeout> };

/**
 * The `tool_progress` events of a session's tool calls, at most one per call every 100 ms:
 * a report that comes sooner is kept (the latest wins) and sent when the window ends, or just
 * before the call's result.
 */
export class ProgressThrottle {
  private readonly states = new Map<string, ProgressState>();

  constructor(
    private readonly emit: (payload: ToolProgressPayload) => void,
    /** Whether a call still runs (and the session too): only then is its progress sent. */
    private readonly running: (callId: string) => boolean,
  ) {}

  /** A handler's `reportProgress(update)`. */
  report(callId: string, update: ToolProgress): void {
    if (!this.running(callId) || !update || typeof update !== 'object') return;
    const payload: ToolProgressPayload = { callId };
    if (typeof update.message === 'string') payload.message = update.message.slice(0, MAX_PROGRESS_MESSAGE);
    if (typeof update.progress === 'number' && Number.isFinite(update.progress)) payload.progress = update.progress;
    if (typeof update.total === 'number' && Number.isFinite(update.total)) payload.total = update.total;
    let state = this.states.get(callId);
    if (!state) {
      state = { last: -Infinity };
      this.states.set(callId, state);
    }
    const now = Date.now();
    if (state.timer === undefined && now - state.last >= PROGRESS_INTERVAL_MS) {
      state.last = now;
      this.emit(payload);
      return;
    }
    state.pending = payload;
    if (state.timer === undefined) {
      state.timer = setTimeout(() => this.flush(callId), Math.max(0, state.last + PROGRESS_INTERVAL_MS - now));
      unref(state.timer);
    }
  }

  /** The call settled: its kept report goes first, then nothing more of it. */
  finish(callId: string): void {
    this.flush(callId);
    this.states.delete(callId);
  }

  /** The session ended: nothing more is sent. */
  clear(): void {
    for (const state of this.states.values()) if (state.timer !== undefined) clearTimeout(state.timer);
    this.states.clear();
  }

  /** Sends the call's kept progress report, if any. */
  private flush(callId: string): void {
    const state = this.states.get(callId);
    if (!state) return;
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    const pending = state.pending;
    state.pending = undefined;
    if (!this.running(callId)) {
      this.states.delete(callId);
      return;
    }
    if (pending) {
      state.last = Date.now();
      this.emit(pending);
    }
  }
}
