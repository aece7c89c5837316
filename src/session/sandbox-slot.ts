import type { Executor } from '../pool/executor.js';
import { mentionsTools } from '../sandbox/tool-namespace.js';
import type { SandboxHandle, SandboxListener, SandboxSpec } from '../sandbox/types.js';
import type { SessionEnvironment, SessionInit } from './session-environment.js';

/**
 * The sandbox a session's code runs in (a new one after a crash): commands given before the
 * executor returned it wait for it, and it tells when the code started (time queued in a busy
 * worker does not count as running).
 */
export class SandboxSlot {
  private sandbox: SandboxHandle | undefined;
  /** Commands for the sandbox issued while its start is still on the stack. */
  private early: ((sandbox: SandboxHandle) => void)[] | undefined = [];
  /** The sandbox has run the code up to its first wait (see `progress`). */
  private codeStarted = false;
  private onCodeStarted: (() => void) | undefined;

  /** Runs a command on the sandbox now, or as soon as `executor.start()` returned it. */
  run(command: (sandbox: SandboxHandle) => void): void {
    if (this.sandbox) command(this.sandbox);
    else if (this.early) this.early.push(command);
  }

  /** Starts the code in a new sandbox; the commands given meanwhile run on it at once. */
  start(executor: Executor, spec: SandboxSpec, listener: SandboxListener): void {
    const sandbox = executor.start(spec, { ...listener, onStarted: () => this.markStarted() });
    this.sandbox = sandbox;
    if (!executor.reportsStart) this.markStarted();
    const early = this.early ?? [];
    this.early = undefined;
    for (const command of early) command(sandbox);
  }

  /** The sandbox crashed: commands wait for the one that replaces it. */
  replace(): void {
    this.sandbox = undefined;
    this.early = [];
  }

  /**
   * Resolves when `more` does, or once the code has run for `ms` (time its sandbox spent
   * queued in a busy worker does not count), but at most `maxMs` from now.
   */
  async progress(ms: number, maxMs: number, more: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cap: ReturnType<typeof setTimeout> | undefined;
    const elapsed = new Promise<void>((resolve) => {
      const arm = () => (timer = setTimeout(resolve, ms));
      if (this.codeStarted) arm();
      else this.onCodeStarted = arm;
      if (maxMs > ms) cap = setTimeout(resolve, maxMs);
    });
    await Promise.race([more, elapsed]);
    this.onCodeStarted = undefined;
    clearTimeout(timer);
    clearTimeout(cap);
  }

  private markStarted(): void {
    if (this.codeStarted) return;
    this.codeStarted = true;
    this.onCodeStarted?.();
    this.onCodeStarted = undefined;
  }
}

/** What a session's sandbox runs: its code, context and limits, `timeoutMs` being the time left. */
export function sandboxSpec(
  init: Pick<SessionInit, 'code' | 'context' | 'limits' | 'identity'>,
  options: { timeoutMs: number; toolNamespace?: SessionEnvironment['toolNamespace']; determinism?: SandboxSpec['determinism'] },
): SandboxSpec {
  const { limits } = init;
  // Only code that names `tools` can read it: the rest gets no plan and no global.
  const toolNamespace = options.toolNamespace && mentionsTools(init.code) ? options.toolNamespace(init.identity.permissions) : undefined;
  return {
    code: init.code,
    contextJson: JSON.stringify(init.context),
    ...(toolNamespace ? { toolNamespace } : {}),
    ...(options.determinism ? { determinism: options.determinism } : {}),
    limits: {
      timeoutMs: options.timeoutMs,
      memoryLimitBytes: limits.memoryLimitBytes,
      maxStackBytes: limits.maxStackBytes,
      maxStdoutBytes: limits.maxStdoutBytes,
      maxResultBytes: limits.maxResultBytes,
      ...(limits.resultOverflow === 'truncate' ? { resultOverflow: 'truncate' as const } : {}),
    },
  };
}
