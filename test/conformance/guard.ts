/** The settings of a `guardedConformance` target: bearer authentication and a rate limit (a Bun fixture imports them, so no test framework here). */
export const GUARD = {
  /** The one bearer token `validate` accepts (as user `u`). */
  token: 'conformance-token',
  windowMs: 60_000,
  maxRequests: 3,
} as const;

/** `authentication` for a guarded target: `GUARD.token` is user `u`, anything else is refused. */
export const guardAuthentication = {
  type: 'bearer' as const,
  validate: async (token: string) => ({ valid: token === GUARD.token, userId: 'u' }),
};
