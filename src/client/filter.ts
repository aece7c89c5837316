import type { EventFilter } from '../protocol/events.js';

/**
 * The filter sent to the broker: the caller's, but always letting `needed` through (`tool_call`
 * so client tools can be answered, `approval_required` with `onApproval`); the caller's filter
 * is applied again on the client.
 */
export function serverFilter(filter: EventFilter | undefined, needed: readonly string[] = ['tool_call']): EventFilter | undefined {
  if (!filter) return undefined;
  const out: EventFilter = {};
  if (filter.types && filter.types.length > 0) {
    out.types = [...filter.types, ...needed.filter((t) => !filter.types!.includes(t))];
  }
  if (filter.blockedTypes && filter.blockedTypes.length > 0) {
    out.blockedTypes = filter.blockedTypes.filter((t) => !needed.includes(t));
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
