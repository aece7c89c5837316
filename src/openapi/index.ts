export { CatalogHandler, type CatalogHandlerOptions, type CatalogRoute, type CatalogChangeListener } from './catalog.js';
export { createActionTool, buildRequest, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES, type CallSettings } from './action.js';
export { buildActionSpecs, type BuildResult } from './operations.js';
export { loadSpec, parseSpecText } from './parse.js';
export { blockedReason, checkUrl } from './ssrf.js';
export type * from './types.js';
