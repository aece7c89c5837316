export { createApp, EMPTY_CATALOG_VERSION } from './app.js';
export { errorResponse } from './errors.js';
export type * from './types.js';
