import { errorText } from './protocol/errors.js';

/** A pino-compatible logger. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child?(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const ORDER = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevelName = keyof typeof ORDER;

/**
 * A small structured logger writing one JSON line per entry to the console, pino-style
 * (`logger.info({ sessionId }, 'session ended')`). Pass your own pino logger instead in
 * production.
 */
export function consoleLogger(level: LogLevelName = 'info', bindings: Record<string, unknown> = {}): Logger {
  const threshold = ORDER[level];
  const write = (name: Exclude<LogLevelName, 'silent'>) => (obj: object | string, msg?: string) => {
    if (ORDER[name] < threshold) return;
    const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
    const line = JSON.stringify({ level: name, time: new Date().toISOString(), ...bindings, ...fields });
    if (name === 'error' || name === 'warn') console.error(line);
    else console.log(line);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => consoleLogger(level, { ...bindings, ...more }),
  };
}

/**
 * The broker's view of a user's logger: a logger that throws (a broken transport, a bug in a
 * serializer) must not fail sessions or end the process. The first such error is written to
 * the console once; the line that caused it is lost.
 */
export function guardLogger(logger: Logger): Logger {
  let reported = false;
  const level = (name: 'debug' | 'info' | 'warn' | 'error') => (obj: object | string, msg?: string) => {
    try {
      logger[name](obj, msg);
    } catch (err) {
      if (reported) return;
      reported = true;
      try {
        console.error(`enclave-broker: the logger threw (${errorText(err)}); lines it cannot write are dropped`);
      } catch {
        // No console either: nothing more to do.
      }
    }
  };
  const guarded: Logger = { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
  if (typeof logger.child === 'function') {
    guarded.child = (bindings) => {
      try {
        return guardLogger(logger.child!(bindings));
      } catch {
        return guarded;
      }
    };
  }
  return guarded;
}
