export * from './types.js';
export { QuickJSSandbox } from './sandbox.js';
export { utf8Length } from '../util/bytes.js';
export { ModulePool, isWasmAbort, type ModulePoolOptions, type ModuleSlot } from './modules.js';
export { classifyGuestError } from './errors.js';
