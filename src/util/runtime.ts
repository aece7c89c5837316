/**
 * Which JavaScript runtime this is, read once from the globals each one defines. Shared code
 * asks here instead of probing `process` or `Bun` itself.
 */
export type Runtime = 'bun' | 'node' | 'workerd' | 'other';

interface RuntimeGlobals {
  Bun?: unknown;
  process?: { versions?: { node?: string; bun?: string } };
  navigator?: { userAgent?: string };
}

let detected: Runtime | undefined;

export function runtime(): Runtime {
  if (detected) return detected;
  const g = globalThis as RuntimeGlobals;
  if (g.Bun !== undefined || typeof g.process?.versions?.bun === 'string') detected = 'bun';
  else if (typeof g.process?.versions?.node === 'string' && g.navigator?.userAgent !== 'Cloudflare-Workers') detected = 'node';
  else if (g.navigator?.userAgent === 'Cloudflare-Workers') detected = 'workerd';
  else detected = 'other';
  return detected;
}

/** Node or Bun: a server runtime with worker threads, `process` and a file system. */
export function isServerRuntime(): boolean {
  const r = runtime();
  return r === 'node' || r === 'bun';
}
