import type { Context, Hono } from 'hono';
import { BrokerError } from '../../protocol/errors.js';
import { isSessionId } from '../../protocol/ids.js';
import { approvalRequestSchema, toolResultRequestSchema } from '../../protocol/schemas.js';
import type { ToolResultInput } from '../../session/types.js';
import { discardBody, readJson } from '../body.js';
import { ndjsonStream } from '../stream.js';
import type { AppEnv, HttpDeps } from '../types.js';

function sessionId(c: Context<AppEnv>): string {
  const id = c.req.param('id') ?? '';
  if (!isSessionId(id)) throw new BrokerError('NOT_FOUND', `no session ${JSON.stringify(id.slice(0, 64))}`);
  return id;
}

function seqParam(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw new BrokerError('VALIDATION_ERROR', `${name} must be a non-negative integer`);
  return Number(raw.trim());
}

function listParam(raw: string | undefined): string[] | undefined {
  return raw
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .slice(0, 32)
    : undefined;
}

export function sessionRoutes(app: Hono<AppEnv>, deps: HttpDeps): void {
  const { sessions } = deps;

  app.get('/sessions', async (c) => {
    const list = await sessions.list(c.get('identity'));
    return c.json({ sessions: list, total: list.length });
  });

  app.get('/sessions/:id', async (c) => c.json(await sessions.info(sessionId(c), c.get('identity'))));

  const replay = async (c: Context<AppEnv>, afterSeq: number) => {
    const id = sessionId(c);
    const filter = { types: listParam(c.req.query('types')), blockedTypes: listParam(c.req.query('blockedTypes')) };
    const cursor = await sessions.read(id, afterSeq, c.get('identity'), filter);
    return ndjsonStream(c, cursor, { 'X-Session-ID': id });
  };

  app.get('/sessions/:id/events', (c) => {
    const after = seqParam(c.req.query('after'), 'after') ?? seqParam(c.req.header('last-event-id'), 'Last-Event-ID') ?? 0;
    return replay(c, after);
  });

  // Upstream form: `fromSeq` (or `from`) is inclusive.
  app.get('/sessions/:id/stream', (c) => {
    const from = seqParam(c.req.query('fromSeq'), 'fromSeq') ?? seqParam(c.req.query('from'), 'from');
    const after = from !== undefined ? Math.max(0, from - 1) : (seqParam(c.req.header('last-event-id'), 'Last-Event-ID') ?? 0);
    return replay(c, after);
  });

  app.post('/sessions/:id/tool-result', async (c) => {
    const id = sessionId(c);
    const body = await readJson(c, toolResultRequestSchema, deps.maxBodyBytes);
    const input: ToolResultInput = body.error ? { error: body.error } : { result: body.result };
    await sessions.submitToolResult(id, body.callId, input, c.get('identity'));
    return c.json({ success: true as const });
  });

  app.post('/sessions/:id/approvals', async (c) => {
    const id = sessionId(c);
    const body = await readJson(c, approvalRequestSchema, deps.maxBodyBytes);
    const decision = body.reason === undefined ? { approve: body.approve } : { approve: body.approve, reason: body.reason };
    await sessions.submitApproval(id, body.callId, decision, c.get('identity'));
    return c.json({ success: true as const });
  });

  const cancel = async (c: Context<AppEnv>) => {
    await discardBody(c, deps.maxBodyBytes);
    await sessions.cancel(sessionId(c), c.get('identity'));
    return c.json({ success: true as const });
  };
  app.delete('/sessions/:id', cancel);
  app.post('/sessions/:id/cancel', cancel);
}
