export { ToolRegistry } from './registry.js';
export { validateArgs, type ValidationResult } from './validate.js';
export { renderDocumentation } from './documentation.js';
export type * from './types.js';
export { permissionMatcher } from './permissions.js';
