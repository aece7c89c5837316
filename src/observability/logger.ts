import type { Logger } from '../logger.js';
import { LOG } from './messages.js';
import type { BrokerMetrics } from './metrics.js';

/** Loggers whose tool-call lines may carry argument values (`logToolArgs: true`). */
const ARG_LOGGERS = new WeakSet<Logger>();

/** Whether tool-call log lines may include argument values for this logger. */
export function logsToolArgs(logger: Logger): boolean {
  return ARG_LOGGERS.has(logger);
}

export interface ObserveOptions {
  metrics?: BrokerMetrics;
  /** Include tool argument values in `tool call` lines (default false). */
  logToolArgs?: boolean;
}

type Fields = Record<string, unknown>;

/**
 * Wraps the broker's logger: every line goes to `logger` unchanged, and the lines that carry
 * figures (see `LOG`) also feed `metrics`. Metrics are counted whatever the logger's level.
 */
export function observeLogger(logger: Logger, options: ObserveOptions): Logger {
  const { metrics } = options;
  const tap = (msg: string | undefined, fields: Fields) => {
    if (!metrics) return;
    if (msg === LOG.sessionStarted) metrics.sessionStarted();
    else if (msg === LOG.sessionEnded) metrics.sessionEnded(Number(fields.durationMs) || 0, String(fields.outcome));
    else if (msg === LOG.toolCall) metrics.toolCall(String(fields.outcome), String(fields.handler));
  };
  const level = (name: 'debug' | 'info' | 'warn' | 'error') => (obj: object | string, msg?: string) => {
    if (typeof obj === 'string') tap(obj, {});
    else tap(msg, obj as Fields);
    logger[name](obj, msg);
  };
  const observed: Logger = {
    debug: level('debug'),
    info: level('info'),
    warn: level('warn'),
    error: level('error'),
  };
  if (logger.child) {
    const child = logger.child.bind(logger);
    observed.child = (bindings) => observeLogger(child(bindings), options);
  }
  if (options.logToolArgs) ARG_LOGGERS.add(observed);
  return observed;
}
