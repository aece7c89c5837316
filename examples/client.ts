/**
 * A client script: runs code on a broker, answers a client-side tool, and prints the result.
 *
 *   BROKER_URL=http://127.0.0.1:3001 npx tsx examples/client.ts
 */
import { EnclaveClient } from '../src/client/index.js';

export async function main(baseUrl: string, token?: string): Promise<unknown> {
  const client = new EnclaveClient({ baseUrl, ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}) });
  const code = `
    const users = await callTool('users:list', { limit: 2 });
    const answer = await callTool('ask', { question: 'Pick one' }); // not on the server: the client answers
    console.log('picked', answer);
    return { users, answer };`;
  return client.execute(code, {
    tools: { ask: async (args) => `answer to ${String(args.question)}` },
    onEvent: (event) => {
      if (event.type === 'stdout') process.stdout.write(event.payload.chunk);
    },
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  console.log(JSON.stringify(await main(process.env.BROKER_URL ?? 'http://127.0.0.1:3001', process.env.BROKER_TOKEN), null, 2));
}
