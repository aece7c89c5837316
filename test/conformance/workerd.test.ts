import { startWorkerd } from '../helpers/workerd.js';
import { conformance } from './suite.js';

// The test Worker in workerd (Miniflare): the adapter at the root and mounted at /enclave.
conformance('workerd', '', async () => {
  const w = await startWorkerd();
  return { url: w.url, close: w.close };
});
conformance('workerd', '/enclave', async () => {
  const w = await startWorkerd();
  return { url: `${w.url}/enclave`, close: w.close };
});
