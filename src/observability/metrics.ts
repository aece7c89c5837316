/**
 * In-process counters for `GET /metrics` (Prometheus text format 0.0.4). Each process keeps
 * its own; on Cloudflare Workers each isolate/object keeps its own, so sum them in Prometheus.
 */

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

type Labels = Record<string, string>;

class LabelledCounter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  inc(labels: Labels): void {
    const key = JSON.stringify(labels);
    const entry = this.values.get(key);
    if (entry) entry.value++;
    else this.values.set(key, { labels, value: 1 });
  }
  entries(): { labels: Labels; value: number }[] {
    return [...this.values.values()];
  }
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Error codes are short upper-case words; anything else is folded so labels stay bounded. */
function codeLabel(code: string): string {
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'OTHER';
}

export class BrokerMetrics {
  private sessionsStarted = 0;
  private readonly durationCounts = DURATION_BUCKETS.map(() => 0);
  private durationSum = 0;
  private durationCount = 0;
  private readonly sessionsEnded = new LabelledCounter();
  private readonly toolCalls = new LabelledCounter();
  private readonly errors = new LabelledCounter();

  sessionStarted(): void {
    this.sessionsStarted++;
  }

  /** `outcome` is 'completed' or the final error code. */
  sessionEnded(durationMs: number, outcome: string): void {
    const seconds = Math.max(0, durationMs) / 1000;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (seconds <= DURATION_BUCKETS[i]!) this.durationCounts[i]!++;
    this.durationSum += seconds;
    this.durationCount++;
    const ok = outcome === 'completed';
    this.sessionsEnded.inc({ outcome: ok ? 'completed' : 'error' });
    if (!ok) this.errors.inc({ code: codeLabel(outcome), source: 'session' });
  }

  /** `outcome` is 'ok' or the call's error code. */
  toolCall(outcome: string, handler: string): void {
    this.toolCalls.inc({ outcome: outcome === 'ok' ? 'ok' : codeLabel(outcome), handler: handler === 'client' ? 'client' : 'server' });
  }

  /** An HTTP error answer. */
  httpError(code: string): void {
    this.errors.inc({ code: codeLabel(code), source: 'http' });
  }

  /** The Prometheus text exposition; `active` is the live session count at scrape time. */
  render(active: number): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family('enclave_sessions_started_total', 'counter', 'Sessions started by this process.');
    lines.push(`enclave_sessions_started_total ${this.sessionsStarted}`);
    family('enclave_sessions_active', 'gauge', 'Sessions of this process that are pending or running.');
    lines.push(`enclave_sessions_active ${active}`);
    family('enclave_sessions_ended_total', 'counter', 'Sessions ended, by outcome.');
    for (const e of this.sessionsEnded.entries()) lines.push(`enclave_sessions_ended_total${labelText(e.labels)} ${e.value}`);
    family('enclave_session_duration_seconds', 'histogram', 'Duration of ended sessions.');
    DURATION_BUCKETS.forEach((le, i) => lines.push(`enclave_session_duration_seconds_bucket{le="${le}"} ${this.durationCounts[i]}`));
    lines.push(`enclave_session_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`);
    lines.push(`enclave_session_duration_seconds_sum ${this.durationSum}`);
    lines.push(`enclave_session_duration_seconds_count ${this.durationCount}`);
    family('enclave_tool_calls_total', 'counter', 'Tool calls, by outcome (ok or the error code) and handler.');
    for (const e of this.toolCalls.entries()) lines.push(`enclave_tool_calls_total${labelText(e.labels)} ${e.value}`);
    family('enclave_errors_total', 'counter', 'Errors by code: session outcomes (source="session") and HTTP error answers (source="http").');
    for (const e of this.errors.entries()) lines.push(`enclave_errors_total${labelText(e.labels)} ${e.value}`);
    return `${lines.join('\n')}\n`;
  }
}
