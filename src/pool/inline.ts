import { ModulePool, type ModulePoolOptions } from '../sandbox/modules.js';
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
    if (!(slot instanceof Promise)) {
      const sandbox = new QuickJSSandbox(this.modules, slot, spec, counted);
      sandbox.start();
      return sandbox;
    }
    const handle = new DeferredHandle();
    slot.then(
      (s) => handle.launch(new QuickJSSandbox(this.modules, s, spec, counted)),
      () => counted.onDone({ ok: false, error: { code: 'SANDBOX_CRASHED', message: 'the sandbox engine failed to load', recoverable: true } }),
    );
    return handle;
  }

  warm(): Promise<void> {
    return this.modules.warm();
  }

  stats(): ExecutorStats {
    return { kind: this.kind, active: this.active, modules: this.modules.modulesCreated };
  }

  async close(): Promise<void> {}

}

/** A handle whose sandbox is still being set up (a module is loading). */
class DeferredHandle implements SandboxHandle {
  private target: QuickJSSandbox | undefined;
  private aborted: SandboxFailure | undefined;

  /** Points the handle at its sandbox before the sandbox runs, so calls made during the run land. */
  launch(sandbox: QuickJSSandbox): void {
    this.target = sandbox;
    if (this.aborted) {
      // Cancelled while loading: never run the code.
      sandbox.start();
      sandbox.abort(this.aborted);
      return;
    }
    sandbox.start();
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    this.target?.settleTool(id, settlement);
  }

  abort(failure: SandboxFailure): void {
    if (this.target) this.target.abort(failure);
    else this.aborted ??= failure;
  }
}
