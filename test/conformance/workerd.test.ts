import { startWorkerd } from '../helpers/workerd.js';
import { conformance, GUARD, guardedConformance } from './suite.js';

// The test Worker in workerd (Miniflare): the adapter at the root and mounted at /enclave.
conformance('workerd', '', async () => {
  const w = await startWorkerd();
  return { url: w.url, close: w.close };
});
conformance('workerd', '/enclave', async () => {
  const w = await startWorkerd();
  return { url: `${w.url}/enclave`, close: w.close };
});
guardedConformance('workerd', async () => {
  const w = await startWorkerd({ GUARD_TOKEN: GUARD.token, RATE_LIMIT_MAX: String(GUARD.maxRequests), RATE_LIMIT_WINDOW_MS: String(GUARD.windowMs) });
  return { url: w.url, close: w.close };
});
