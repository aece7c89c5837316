export { createApp } from './app.js';
export { installMiddleware, type MiddlewareDeps } from './middleware.js';
export { errorResponse } from './errors.js';
export type * from './types.js';
