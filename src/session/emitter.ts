/** A small typed event emitter that runs on every runtime (no `node:events`). */
// biome-ignore lint/suspicious/noExplicitAny: listener types of any arity (unknown[] parameters would refuse typed listeners)
export class Emitter<Events extends { [K in keyof Events]: (...args: any[]) => void }> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Events[K]): this {
    const wrapped = ((...args: Parameters<Events[K]>) => {
      this.off(event, wrapped);
      return listener(...args) as unknown;
    }) as Events[K];
    return this.on(event, wrapped);
  }

  hasListeners<K extends keyof Events>(event: K): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  /**
   * Calls every listener; a listener that throws, or an async one whose promise rejects, is
   * reported to `onError`, never to the emitter (and never left as an unhandled rejection).
   */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        const returned = listener(...args) as unknown;
        if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<unknown>).then === 'function') {
          (returned as PromiseLike<unknown>).then(undefined, (err: unknown) => this.report(err, String(event)));
        }
      } catch (err) {
        this.report(err, String(event));
      }
    }
  }

  /** `onError`, which reads the listener's error: that may throw too (a getter), and is dropped then. */
  private report(err: unknown, event: string): void {
    try {
      this.onError(err, event);
    } catch {
      // Nothing left to tell.
    }
  }

  protected onError(_err: unknown, _event: string): void {}
}
