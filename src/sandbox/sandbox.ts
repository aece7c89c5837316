import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import type { LogLevel } from '../protocol/events.js';
import { GUEST_SOURCE } from './guest-source.js';
import { classifyGuestError, type GuestErrorInfo } from './errors.js';
import { isWasmAbort, type ModulePool, type ModuleSlot } from './modules.js';
import type {
  SandboxFailure,
  SandboxHandle,
  SandboxListener,
  SandboxSpec,
  ToolSettlement,
} from './types.js';

const LEVELS: readonly LogLevel[] = ['debug', 'debug', 'info', 'warn', 'error'];
const encoder = new TextEncoder();

/** UTF-8 length of a string without allocating for ASCII. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    return encoder.encode(s).length;
  }
  return n;
}

interface GuestApi {
  settle: QuickJSHandle;
  fire: QuickJSHandle;
}

/**
 * One agent script in its own QuickJS runtime. Everything that crosses the boundary is a
 * string or a number: JSON text both ways, parsed on the other side.
 */
export class QuickJSSandbox implements SandboxHandle {
  private runtime!: QuickJSRuntime;
  private ctx!: QuickJSContext;
  private api!: GuestApi;
  private readonly deadline: number;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  /** Set when the host decided the guest must stop; the interrupt handler reads it. */
  private stop: SandboxFailure | undefined;
  private outcome: SandboxFailure | { ok: true; resultJson?: string } | undefined;
  private ended = false;
  private depth = 0;
  private outputBytes = 0;
  private stdoutBuffer = '';
  private nextCallId = 1;
  /** The runtime may be unsafe to dispose (out of memory, interrupted mid-job). */
  private tainted = false;

  constructor(
    private readonly pool: ModulePool,
    private readonly slot: ModuleSlot,
    private readonly spec: SandboxSpec,
    private readonly listener: SandboxListener,
  ) {
    this.deadline = Date.now() + spec.limits.timeoutMs;
  }

  /** Creates the runtime, installs the globals and runs the code up to its first wait. */
  start(): void {
    this.slot.live.add(this);
    this.pool.noteCreated(this.slot);
    try {
      this.createRuntime();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.deadlineTimer = setTimeout(
      () => this.abort({ code: 'TIMEOUT', message: `execution exceeded ${this.spec.limits.timeoutMs} ms` }),
      Math.max(0, this.deadline - Date.now()),
    );
    this.enter(() => this.compileAndStart());
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    if (this.ended) return;
    this.enter(() => {
      const ctx = this.ctx;
      const idHandle = ctx.newNumber(id);
      const okHandle = settlement.ok ? ctx.true : ctx.false;
      const payload = settlement.ok ? settlement.resultJson : JSON.stringify(settlement.error);
      const payloadHandle = payload === undefined ? ctx.undefined : ctx.newString(payload);
      try {
        return ctx.callFunction(this.api.settle, ctx.undefined, idHandle, okHandle, payloadHandle);
      } finally {
        idHandle.dispose();
        payloadHandle.dispose();
      }
    });
  }

  abort(failure: SandboxFailure): void {
    if (this.ended) return;
    this.stop ??= failure;
    // Inside a guest call the interrupt handler stops it; otherwise end now.
    if (this.depth === 0) this.finish(this.stop);
  }

  /** The module this sandbox lives in aborted. */
  crash(reason: string): void {
    if (this.ended) return;
    this.tainted = true;
    this.finish({ code: 'SANDBOX_CRASHED', message: `the sandbox engine failed: ${reason}`, recoverable: true }, false);
  }

  private createRuntime(): void {
    const { limits } = this.spec;
    const runtime = this.slot.module.newRuntime();
    this.runtime = runtime;
    runtime.setMemoryLimit(limits.memoryLimitBytes);
    runtime.setMaxStackSize(Math.min(limits.maxStackBytes, 256 * 1024));
    const poll = this.listener.pollAbort?.bind(this.listener);
    runtime.setInterruptHandler(() => {
      if (poll && this.stop === undefined) this.stop = poll();
      return this.stop !== undefined || Date.now() > this.deadline;
    });
    const ctx = runtime.newContext();
    this.ctx = ctx;

    const hostObject = ctx.newObject();
    const fns = {
      call: ctx.newFunction('call', (name, argsJson) => this.onCall(name, argsJson)),
      out: ctx.newFunction('out', (kind, text) => {
        this.onOut(ctx.getNumber(kind), ctx.getString(text));
      }),
      timer: ctx.newFunction('timer', (op, id, ms) => {
        this.onTimer(ctx.getNumber(op), ctx.getNumber(id), ctx.getNumber(ms));
      }),
      done: ctx.newFunction('done', (status, json) => {
        this.onGuestDone(ctx.getNumber(status), ctx.typeof(json) === 'string' ? ctx.getString(json) : undefined);
      }),
    };
    for (const [name, fn] of Object.entries(fns)) {
      ctx.setProp(hostObject, name, fn);
      fn.dispose();
    }
    const factory = ctx.unwrapResult(ctx.evalCode(GUEST_SOURCE, 'enclave:guest'));
    const apiHandle = ctx.unwrapResult(ctx.callFunction(factory, ctx.undefined, hostObject));
    factory.dispose();
    hostObject.dispose();
    this.api = { settle: ctx.getProp(apiHandle, 'settle'), fire: ctx.getProp(apiHandle, 'fire') };
    const install = ctx.getProp(apiHandle, 'install');
    const start = ctx.getProp(apiHandle, 'start');
    apiHandle.dispose();
    const contextHandle = ctx.newString(this.spec.contextJson);
    const installed = ctx.callFunction(install, ctx.undefined, contextHandle);
    contextHandle.dispose();
    install.dispose();
    ctx.unwrapResult(installed).dispose();
    this.startFn = start;
  }

  private startFn: QuickJSHandle | undefined;

  private compileAndStart() {
    const ctx = this.ctx;
    const compiled = ctx.evalCode(`(async function () {${this.spec.code}\n})`, 'agent.js');
    if (compiled.error) {
      const info = this.readError(compiled.error);
      compiled.error.dispose();
      this.startFn?.dispose();
      this.startFn = undefined;
      const failure = this.stop ?? classifyGuestError(info, 'compile');
      this.outcome = failure;
      return undefined;
    }
    const main = compiled.value;
    try {
      return ctx.callFunction(this.startFn!, ctx.undefined, main);
    } finally {
      main.dispose();
      this.startFn!.dispose();
      this.startFn = undefined;
    }
  }

  /**
   * Runs one entry into the guest, then its pending jobs, then settles what it led to.
   * A WASM abort here takes the whole module down (and every sandbox in it).
   */
  private enter(fn: () => { error?: QuickJSHandle; value?: QuickJSHandle } | undefined): void {
    this.depth++;
    try {
      const result = fn();
      if (result) {
        if (result.error) {
          const info = this.readError(result.error);
          result.error.dispose();
          this.outcome ??= this.stop ?? classifyGuestError(info, 'run');
        } else {
          result.value?.dispose();
        }
      }
      if (!this.outcome) this.drainJobs();
    } catch (err) {
      this.depth--;
      this.fail(err);
      return;
    }
    this.depth--;
    this.flushStdout();
    if (this.stop) this.tainted = true;
    const outcome = this.stop ?? this.outcome;
    if (outcome) this.finish(outcome);
  }

  private drainJobs(): void {
    for (;;) {
      const res = this.runtime.executePendingJobs(-1);
      if (res.error) {
        const info = this.readError(res.error);
        res.error.dispose();
        this.outcome ??= this.stop ?? classifyGuestError(info, 'run');
        return;
      }
      const executed = res.value;
      if (executed === 0 || this.outcome || this.stop) return;
    }
  }

  private readError(handle: QuickJSHandle): GuestErrorInfo {
    const ctx = this.ctx;
    const info: GuestErrorInfo = { name: 'Error', message: '' };
    try {
      if (ctx.typeof(handle) === 'object') {
        const name = ctx.getProp(handle, 'name');
        const message = ctx.getProp(handle, 'message');
        const stack = ctx.getProp(handle, 'stack');
        if (ctx.typeof(name) === 'string') info.name = ctx.getString(name);
        if (ctx.typeof(message) === 'string') info.message = ctx.getString(message);
        if (ctx.typeof(stack) === 'string') info.stack = ctx.getString(stack);
        name.dispose();
        message.dispose();
        stack.dispose();
      } else if (ctx.typeof(handle) === 'string') {
        info.message = ctx.getString(handle);
      }
    } catch (err) {
      if (isWasmAbort(err)) throw err;
      info.message = 'an error that could not be read';
    }
    return info;
  }

  // ---- bridge callbacks (run while the guest is on the stack) ---------------------------

  private onCall(nameHandle: QuickJSHandle, argsHandle: QuickJSHandle): QuickJSHandle {
    const ctx = this.ctx;
    const id = this.nextCallId++;
    const name = ctx.typeof(nameHandle) === 'string' ? ctx.getString(nameHandle) : '';
    const argsJson = ctx.typeof(argsHandle) === 'string' ? ctx.getString(argsHandle) : '{}';
    this.flushStdout();
    this.listener.onToolCall(id, name, argsJson);
    return ctx.newNumber(id);
  }

  private onOut(kind: number, text: string): void {
    if (this.stop) return;
    const line = kind === 0 ? text + '\n' : text;
    this.outputBytes += utf8Length(line);
    if (this.outputBytes > this.spec.limits.maxStdoutBytes) {
      this.stop = {
        code: 'STDOUT_LIMIT',
        message: `console output exceeded ${this.spec.limits.maxStdoutBytes} bytes`,
      };
      return;
    }
    if (kind === 0) {
      this.stdoutBuffer += line;
      if (this.stdoutBuffer.length >= 64 * 1024) this.flushStdout();
      return;
    }
    this.flushStdout();
    this.listener.onLog(LEVELS[kind] ?? 'info', text);
  }

  private onTimer(op: number, id: number, ms: number): void {
    if (op === 0) {
      const t = this.timers.get(id);
      if (t !== undefined) clearTimeout(t);
      this.timers.delete(id);
      return;
    }
    // A timer that would fire after the deadline is never armed: the deadline ends the session first.
    const delay = Math.min(Number.isFinite(ms) ? ms : 0, Math.max(0, this.deadline - Date.now()) + 1);
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        if (this.ended) return;
        this.enter(() => {
          const idHandle = this.ctx.newNumber(id);
          try {
            return this.ctx.callFunction(this.api.fire, this.ctx.undefined, idHandle);
          } finally {
            idHandle.dispose();
          }
        });
      }, delay),
    );
  }

  private onGuestDone(status: number, json: string | undefined): void {
    if (this.outcome) return;
    if (status === 1) {
      if (json !== undefined && utf8Length(json) > this.spec.limits.maxResultBytes) {
        this.outcome = {
          code: 'RESULT_TOO_LARGE',
          message: `the result exceeds ${this.spec.limits.maxResultBytes} bytes`,
        };
        return;
      }
      this.outcome = json === undefined ? { ok: true } : { ok: true, resultJson: json };
      return;
    }
    let info: GuestErrorInfo = { name: 'Error', message: 'unknown error' };
    try {
      if (json !== undefined) info = JSON.parse(json) as GuestErrorInfo;
    } catch {
      /* keep the fallback */
    }
    this.outcome =
      status === 3
        ? { code: 'INVALID_RESULT', message: `the result is not JSON-representable: ${info.message}` }
        : classifyGuestError(info, 'run');
  }

  private flushStdout(): void {
    if (!this.stdoutBuffer) return;
    const chunk = this.stdoutBuffer;
    this.stdoutBuffer = '';
    this.listener.onStdout(chunk);
  }

  // ---- ending ---------------------------------------------------------------------------

  private fail(err: unknown): void {
    if (isWasmAbort(err)) {
      const reason = err instanceof Error ? err.message : String(err);
      this.tainted = true;
      // Ends this sandbox and every other one in the module.
      this.crash(reason);
      this.pool.crash(this.slot, reason);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (/out of memory/i.test(message)) {
      this.tainted = true;
      this.finish({ code: 'MEMORY_LIMIT', message: 'the sandbox ran out of memory' });
      return;
    }
    this.tainted = true;
    this.finish({ code: 'INTERNAL_ERROR', message: 'the sandbox failed to start', recoverable: true });
  }

  private finish(outcome: SandboxFailure | { ok: true; resultJson?: string }, dispose = true): void {
    if (this.ended) return;
    this.ended = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pool.release(this.slot, this);
    if (dispose) this.dispose();
    if ('ok' in outcome) this.listener.onDone(outcome);
    else this.listener.onDone({ ok: false, error: outcome });
  }

  private dispose(): void {
    if (this.tainted || (this.outcome && 'code' in this.outcome && (this.outcome.code === 'MEMORY_LIMIT' || this.outcome.code === 'STACK_OVERFLOW'))) {
      // Disposing a runtime after out-of-memory or an interrupted job can abort the whole
      // module (quickjs-emscripten #257/#269). Leave it, retire the module, and let the
      // module be collected once its last sandbox ends.
      this.pool.retire(this.slot);
      return;
    }
    try {
      this.api?.settle.dispose();
      this.api?.fire.dispose();
      this.startFn?.dispose();
      this.ctx?.dispose();
      this.runtime?.dispose();
    } catch (err) {
      if (isWasmAbort(err)) this.pool.crash(this.slot, err instanceof Error ? err.message : String(err));
      else this.pool.retire(this.slot);
    }
  }
}
