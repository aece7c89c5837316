import type { Cluster, Redis } from 'ioredis';

/** Counts the commands an ioredis client sends from now on (a cluster's included). */
export function countCommands(client: Redis | Cluster): () => number {
  let commands = 0;
  const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  client.sendCommand = ((...args: unknown[]) => {
    commands++;
    return send(...args);
  }) as typeof client.sendCommand;
  return () => commands;
}
