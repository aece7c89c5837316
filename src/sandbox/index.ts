export * from './types.js';
export { QuickJSSandbox, utf8Length } from './sandbox.js';
export { ModulePool, isWasmAbort, type ModulePoolOptions, type ModuleSlot } from './modules.js';
export { classifyGuestError } from './errors.js';
