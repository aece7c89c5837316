export { ToolRegistry } from './registry.js';
export { validateArgs, type ValidationResult } from './validate.js';
export { renderDocumentation, type DocumentationOptions, type DocumentationStyle } from './documentation.js';
export { identifierFor, namespacePlan, namespacePlanJson, type NamespaceEntry, type NamespacePlan } from './namespace.js';
export type * from './types.js';
export { permissionMatcher } from './permissions.js';
