import type { Logger } from './session/types.js';

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
