import type { AuthConfig } from '../http/types.js';

const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/** Compares two strings in time independent of where they differ (and of their lengths). */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

/** Bearer authentication accepting one shared token. */
export function tokenAuth(token: string): AuthConfig {
  return {
    type: 'bearer',
    validate: async (presented) => ({ valid: await constantTimeEqual(presented, token), userId: 'token' }),
  };
}
