export * from './types.js';
export { QuickJSSandbox } from './sandbox.js';
export { utf8Length } from '../util/bytes.js';
export { ModulePool, type ModulePoolOptions, type ModuleSlot } from './modules.js';
export { isWasmAbort } from './errors.js';
export { classifyGuestError } from './errors.js';
