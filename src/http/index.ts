export { createApp } from './app.js';
export { errorResponse } from './errors.js';
export type * from './types.js';
