import { createEnclaveWorker } from '../../adapters/workers.js';
import { exampleTools } from '../users-tools.js';

/**
 * The Workers entry of `wrangler.toml`: the reference's example tools, one Durable Object per
 * session (`ENCLAVE_SESSION`) and one for counters (`ENCLAVE_COUNTERS`). Tools that need a
 * binding are built from `env`: `tools: (env) => myTools(env)`.
 */
const enclave = createEnclaveWorker({ tools: exampleTools() });

export default enclave.worker;
export const { EnclaveSession, EnclaveCounters } = enclave;
