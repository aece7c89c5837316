export { BrokerMetrics } from './metrics.js';
export { observeLogger, logsToolArgs, type ObserveOptions } from './logger.js';
export { LOG, LIMIT_CODES } from './messages.js';
