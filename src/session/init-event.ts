import type { EventPayloads } from '../protocol/events.js';
import type { SessionInit } from './session-environment.js';

/** The payload of a new session's `session_init`: its deadline, limits and where to send commands. */
export function initEventPayload(init: Pick<SessionInit, 'id' | 'basePath' | 'limits'>, expiresAt: number): EventPayloads['session_init'] {
  const { limits } = init;
  const base = `${init.basePath}/sessions/${init.id}`;
  return {
    expiresAt: new Date(expiresAt).toISOString(),
    limits: {
      timeoutMs: limits.timeoutMs,
      maxToolCalls: limits.maxToolCalls,
      memoryLimitBytes: limits.memoryLimitBytes,
      maxStdoutBytes: limits.maxStdoutBytes,
    },
    cancelUrl: `${base}/cancel`,
    toolResultUrl: `${base}/tool-result`,
    replayUrl: `${base}/events`,
    encryption: { enabled: false },
  };
}
