import type { Unsubscribe } from './types.js';

/**
 * Publish/subscribe inside one process, for the stores whose subscribers all live here (the
 * memory store; a Durable Object, where every reader of a session reaches the same object).
 * Handlers run in a microtask, never inside `publish`.
 */
export class LocalChannels {
  private readonly channels = new Map<string, Set<(message: string) => void>>();

  publish(channel: string, message: string): void {
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    for (const handler of [...handlers]) queueMicrotask(() => handler(message));
  }

  /** Drops every subscription (the store closes). */
  clear(): void {
    this.channels.clear();
  }

  subscribe(channel: string, handler: (message: string) => void): Unsubscribe {
    let handlers = this.channels.get(channel);
    if (!handlers) this.channels.set(channel, (handlers = new Set()));
    const fn = (m: string) => handler(m);
    handlers.add(fn);
    return async () => {
      handlers.delete(fn);
      if (handlers.size === 0 && this.channels.get(channel) === handlers) this.channels.delete(channel);
    };
  }
}
