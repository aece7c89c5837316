/**
 * The `signal` option of one MCP `tools/call`: the SDK's `Protocol.request` reads `aborted`,
 * `reason`, `throwIfAborted()` and `addEventListener('abort', …)` of it, nothing else
 * (@modelcontextprotocol/sdk 1.32.2, shared/protocol.js). This object has exactly those, and
 * fires when the session ends the call (`listenAbort`), so that a call costs no AbortSignal:
 * on Node 20 making one and adding the SDK's listener takes longer than the broker's own work
 * around a fast remote call. The SDK then cancels the request as for any signal
 * (`notifications/cancelled` to the server, the call rejects).
 */
export class CallSignal {
  aborted = false;
  reason: unknown = undefined;
  private listener: (() => void) | undefined;

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  addEventListener(type: string, listener: () => void): void {
    if (type === 'abort') this.listener = listener;
  }

  removeEventListener(type: string, listener: () => void): void {
    if (type === 'abort' && this.listener === listener) this.listener = undefined;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new DOMException('The session ended the call', 'AbortError');
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  /** The type the SDK's options declare (it uses only the members above). */
  asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}
