/**
 * The broker mounted under `/enclave` in an existing Hono app, next to the app's own routes.
 * Every broker route (and its OpenAPI document at /enclave/openapi.json) lives under the
 * prefix; the `session_init` URLs carry it too.
 *
 *   npx tsx examples/mounting.ts
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { EnclaveBroker } from '../src/index.js';
import { exampleTools } from './users-tools.js';

export const broker = new EnclaveBroker({ tools: exampleTools() });

export const app = new Hono();
app.get('/', (c) => c.text('my app'));
app.route('/enclave', broker.app);

// Run it only when started directly (tests import `app`).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await broker.ready();
  serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => console.log(`listening on ${info.port}`));
}
