// What upstream EnclaveJS clients send and expect (SPEC §3, §4): session_init.encryption,
// upstream's filter shape on POST /sessions, and GET /sessions with a total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUpstreamFilter } from '../../src/protocol/schemas.js';
import { postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
beforeAll(async () => {
  server = await startBroker();
});
afterAll(() => server.close());

const CODE = 'console.log("out"); console.warn("careful"); return 1';

async function createSession(filter: unknown) {
  const res = await postJson(`${server.url}/sessions`, { code: CODE, filter });
  expect(res.status, await res.clone().text()).toBe(200);
  return readEvents(res);
}

describe('upstream drop-in', () => {
  it('session_init carries encryption: { enabled: false }', async () => {
    const events = await createSession(undefined);
    expect(events[0]).toMatchObject({ type: 'session_init', payload: { encryption: { enabled: false } } });
  });

  it('POST /sessions accepts an include filter: the rules’ types plus alwaysAllow (default session_init, final)', async () => {
    const events = await createSession({ mode: 'include', rules: [{ types: { types: ['stdout'] } }] });
    expect(events.map((e) => e.type)).toEqual(['session_init', 'stdout', 'final']);
    const withLog = await createSession({ mode: 'include', rules: [{ types: { types: ['stdout'] } }, { types: { types: ['log'] } }], alwaysAllow: ['final'] });
    expect(withLog.map((e) => e.type)).toEqual(['stdout', 'log', 'final']);
  });

  it('POST /sessions accepts an exclude filter; final is never dropped', async () => {
    const events = await createSession({ mode: 'exclude', rules: [{ types: { types: ['log', 'final'] } }] });
    expect(events.map((e) => e.type)).toEqual(['session_init', 'stdout', 'final']);
  });

  it('content patterns are not evaluated: the stream keeps more events, never fewer', async () => {
    const content = { patterns: [{ type: 'prefix', pattern: 'car', field: 'payload.message' }] };
    const excluded = await createSession({ mode: 'exclude', rules: [{ types: { types: ['log'] }, content }] });
    expect(excluded.map((e) => e.type)).toEqual(['session_init', 'stdout', 'log', 'final']);
    const included = await createSession({ mode: 'include', rules: [{ content }] });
    expect(included.map((e) => e.type)).toEqual(['session_init', 'stdout', 'log', 'final']);
    expect(fromUpstreamFilter({ mode: 'include', rules: [] })).toEqual({});
  });

  it('a malformed upstream filter is 400 VALIDATION_ERROR', async () => {
    for (const filter of [{ mode: 'both', rules: [] }, { mode: 'include' }, { mode: 'exclude', rules: [{ types: ['log'] }] }]) {
      const res = await postJson(`${server.url}/sessions`, { code: 'return 1', filter });
      expect(res.status, JSON.stringify(filter)).toBe(400);
      expect((await res.json()).error.code).toBe('VALIDATION_ERROR');
    }
  });

  it('GET /sessions answers { sessions, total }', async () => {
    const res = await fetch(`${server.url}/sessions`);
    const body = (await res.json()) as { sessions: { id: string }[]; total: number };
    expect(body.total).toBe(body.sessions.length);
    expect(body.total).toBeGreaterThanOrEqual(5);
  });
});
