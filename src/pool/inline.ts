import { ModulePool, type ModulePoolOptions, type ModuleSlot } from '../sandbox/modules.js';
import { QuickJSSandbox } from '../sandbox/sandbox.js';
import type {
  SandboxFailure,
  SandboxHandle,
  SandboxListener,
  SandboxSpec,
  ToolSettlement,
} from '../sandbox/types.js';
import type { Executor, ExecutorStats } from './executor.js';

/**
 * Runs sandboxes on the calling thread. This is what a Durable Object uses (each has its own
 * isolate); on Node and Bun a script that spins holds this thread until its interrupt fires.
 */
export class InlineExecutor implements Executor {
  readonly kind = 'inline';
  private readonly modules: ModulePool;
  private active = 0;

  constructor(options: ModulePoolOptions = {}) {
    this.modules = new ModulePool(options);
  }

  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle {
    this.active++;
    const counted: SandboxListener = {
      onToolCall: (id, name, args) => listener.onToolCall(id, name, args),
      onStdout: (chunk) => listener.onStdout(chunk),
      onLog: (level, message) => listener.onLog(level, message),
      onDone: (outcome) => {
        this.active--;
        listener.onDone(outcome);
      },
    };
    if (listener.pollAbort) counted.pollAbort = () => listener.pollAbort!();
    const slot = this.modules.acquire();
    if (!(slot instanceof Promise)) return this.launch(slot, spec, counted);
    return new DeferredHandle(
      slot.then((s) => this.launch(s, spec, counted)),
      (failure) => counted.onDone({ ok: false, error: failure }),
    );
  }

  warm(): Promise<void> {
    return this.modules.warm();
  }

  stats(): ExecutorStats {
    return { kind: this.kind, active: this.active, modules: this.modules.modulesCreated };
  }

  async close(): Promise<void> {}

  private launch(slot: ModuleSlot, spec: SandboxSpec, listener: SandboxListener): SandboxHandle {
    const sandbox = new QuickJSSandbox(this.modules, slot, spec, listener);
    sandbox.start();
    return sandbox;
  }
}

/** A handle whose sandbox is still being set up (the first module is loading). */
class DeferredHandle implements SandboxHandle {
  private target: SandboxHandle | undefined;
  private aborted: SandboxFailure | undefined;

  constructor(ready: Promise<SandboxHandle>, onFailure: (f: SandboxFailure) => void) {
    ready.then(
      (handle) => {
        this.target = handle;
        if (this.aborted) handle.abort(this.aborted);
      },
      () => onFailure({ code: 'SANDBOX_CRASHED', message: 'the sandbox engine failed to load', recoverable: true }),
    );
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    // No tool call can exist before the sandbox started.
    this.target?.settleTool(id, settlement);
  }

  abort(failure: SandboxFailure): void {
    if (this.target) this.target.abort(failure);
    else this.aborted ??= failure;
  }
}
