export { utf8Length } from './bytes.js';
export { isServerRuntime, runtime, type Runtime } from './runtime.js';
export type { RunningServer } from './server.js';
export { unref } from './timers.js';
