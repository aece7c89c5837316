import type { LogPayload, StdoutPayload } from '../protocol/events.js';

/**
 * Collects a run's console output as lines, in the order it was written: `console.log`
 * lines as they are, `console.debug/info/warn/error` as `[level] message`.
 */
export class LogLines {
  readonly lines: string[] = [];
  private partial = '';

  stdout(payload: StdoutPayload): void {
    const text = this.partial + payload.chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.lines.push(line);
  }

  log(payload: LogPayload): void {
    this.flush();
    this.lines.push(`[${payload.level}] ${payload.message}`);
  }

  /** The lines, a last unterminated stdout line included. */
  done(): string[] {
    this.flush();
    return this.lines;
  }

  private flush(): void {
    if (!this.partial) return;
    this.lines.push(this.partial);
    this.partial = '';
  }
}
