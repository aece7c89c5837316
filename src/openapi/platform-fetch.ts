/**
 * The `fetch` OpenAPI sources use when none is configured: the global one, unless the
 * platform's adapter set a better one (the Node adapter sets `nodeHttpFetch`).
 */
import type { FetchLike } from './types.js';

let platformFetch: FetchLike | undefined;

/** Sets (or, with undefined, clears) the platform's default `fetch` for OpenAPI sources. */
export function setPlatformFetch(fetchFn: FetchLike | undefined): void {
  platformFetch = fetchFn;
}

/** The default `fetch` of a source, read when its catalog is built. */
export function defaultFetch(): FetchLike {
  return platformFetch ?? ((input, init) => fetch(input, init));
}
