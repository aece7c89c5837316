import type { EventFilter } from '../protocol/events.js';

/**
 * The filter sent to the broker: the caller's, but always letting `tool_call` through so
 * client tools can be answered (the caller's filter is applied again on the client).
 */
export function serverFilter(filter: EventFilter | undefined): EventFilter | undefined {
  if (!filter) return undefined;
  const out: EventFilter = {};
  if (filter.types && filter.types.length > 0) {
    out.types = filter.types.includes('tool_call') ? [...filter.types] : [...filter.types, 'tool_call'];
  }
  if (filter.blockedTypes && filter.blockedTypes.length > 0) {
    out.blockedTypes = filter.blockedTypes.filter((t) => t !== 'tool_call');
  }
  return out;
}

/** `?after=N&types=…&blockedTypes=…` for `GET /sessions/:id/events`. */
export function replayQuery(afterSeq: number, filter: EventFilter | undefined): string {
  const params = new URLSearchParams({ after: String(afterSeq) });
  if (filter?.types?.length) params.set('types', filter.types.join(','));
  if (filter?.blockedTypes?.length) params.set('blockedTypes', filter.blockedTypes.join(','));
  return `?${params.toString()}`;
}
