import type { SessionLeases } from '../store/types.js';
import { unref } from '../util/timers.js';
import type { Session } from './session.js';
import type { Logger } from '../logger.js';

/** Default TTL of the owner lease (ms): a session resumes elsewhere within about a second of its process dying. */
export const DEFAULT_LEASE_MS = 750;
/**
 * Share of the lease during which a hold renewed at time t counts as current (from t, the
 * moment the renewal was sent: the store renewed it later still). The rest is the margin for
 * clocks running at slightly different rates.
 */
const HELD_SHARE = 0.8;

export interface OwnerLeaseOptions {
  store: SessionLeases;
  instanceId: string;
  logger: Logger;
  /** TTL of the lease (at least 30 ms; default `DEFAULT_LEASE_MS`). */
  leaseMs?: number;
  /** How often it is renewed (default a third of the lease, at most half of it). */
  renewMs?: number;
  /** The sessions this process runs (whose hold is renewed with the lease). */
  sessions(): Iterable<Session>;
}

/**
 * This process's owner lease in a shared store, and its hold on each session it runs, renewed
 * together in one round trip. Also answers whether another process's lease is alive.
 */
export class OwnerLease {
  readonly leaseMs: number;
  readonly renewMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private failing = false;
  /** The renewal in flight, if any. */
  private renewing: Promise<void> | undefined;
  /**
   * Until when (performance.now()) this process's hold on its sessions is known current: the
   * start of the last renewal that succeeded plus most of the lease. No other process can have
   * taken a session over before then.
   */
  private heldUntil = 0;
  /** Owners whose lease was seen alive, until when that answer is trusted. */
  private readonly ownersAlive = new Map<string, number>();

  constructor(private readonly options: OwnerLeaseOptions) {
    this.leaseMs = Math.max(30, options.leaseMs ?? DEFAULT_LEASE_MS);
    this.renewMs = Math.max(10, Math.min(options.renewMs ?? Math.floor(this.leaseMs / 3), Math.floor(this.leaseMs / 2)));
  }

  /** Takes the lease (the store's error, if any, is thrown). */
  async take(): Promise<void> {
    const { store, instanceId } = this.options;
    const started = performance.now();
    await store.renewLease(instanceId, this.leaseMs);
    this.heldUntil = started + this.leaseMs * HELD_SHARE;
  }

  /** Renews the lease every `renewMs` from now on. */
  keepRenewing(): void {
    this.timer ??= setInterval(() => void this.renew(), this.renewMs);
    unref(this.timer);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether this process's hold on its sessions is known to be current. */
  current(): boolean {
    return performance.now() < this.heldUntil;
  }

  /** Resolves once a renewal that started now (or later) is done; waits a little when it failed. */
  async confirm(): Promise<void> {
    if (this.renewing) await this.renewing;
    if (this.current()) return;
    await this.renew();
    if (!this.current()) await new Promise((r) => setTimeout(r, Math.min(250, this.renewMs)));
  }

  /** Whether `owner`'s lease is alive; an alive answer is trusted for a third of the TTL. */
  async ownerAlive(owner: string): Promise<boolean> {
    const now = Date.now();
    if ((this.ownersAlive.get(owner) ?? 0) > now) return true;
    const alive = await this.options.store.leaseAlive(owner);
    if (alive) {
      if (this.ownersAlive.size > 1000) this.ownersAlive.clear();
      this.ownersAlive.set(owner, now + Math.floor(this.leaseMs / 3));
    } else this.ownersAlive.delete(owner);
    return alive;
  }

  /** `owner`'s lease was seen gone: an earlier alive answer is not trusted any more. */
  forget(owner: string): void {
    this.ownersAlive.delete(owner);
  }

  /**
   * Renews the lease and this process's hold on each session it runs (one store round trip):
   * a session another process owns now stops here; one the store lost (it restarted empty) is
   * written back. One renewal at a time.
   */
  private renew(): Promise<void> {
    this.renewing ??= this.renewNow().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewNow(): Promise<void> {
    const { store, instanceId, logger } = this.options;
    const started = performance.now();
    const sessions = [...this.options.sessions()].filter((s) => s.renewable);
    try {
      const [, states] = await Promise.all([
        store.renewLease(instanceId, this.leaseMs),
        Promise.all(sessions.map((s) => (store.renewSession && s.fence ? store.renewSession(s.id, s.fence) : 'ok'))),
      ]);
      this.heldUntil = Math.max(this.heldUntil, started + this.leaseMs * HELD_SHARE);
      for (let i = 0; i < sessions.length; i++) {
        if (states[i] === 'lost') sessions[i]!.loseOwnership();
        else if (states[i] === 'missing') void sessions[i]!.restore();
      }
      if (this.failing) logger.info({ instanceId }, 'owner lease renewed again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) logger.warn({ err: String(err) }, 'renewing the owner lease failed');
      this.failing = true;
    }
  }
}
