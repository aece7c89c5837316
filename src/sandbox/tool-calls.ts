import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import type { GuestJson } from './guest-json.js';
import { readGuestString } from './guest-string.js';
import { borrow, type OwnedValue, type RawOps, type RawResult } from './raw.js';
import type { SandboxLimits, SandboxListener, ToolSettlement } from './types.js';
import { ValueScope } from './value-scope.js';
import { utf8Length } from '../util/bytes.js';

const MAX_TOOL_NAME = 1024;

/** A pending `callTool` promise's resolving functions (raw values the sandbox owns). */
export interface PendingCall {
  resolve: OwnedValue;
  reject: OwnedValue;
}

/** What `callTool` needs of the sandbox it runs in, read when the guest calls. */
export interface ToolCallHost {
  limits(): SandboxLimits;
  listener(): SandboxListener;
  /** Sends the console output buffered so far, so that it comes before the call. */
  flushStdout(): void;
}

/**
 * The guest's `callTool(name, args)` and the promises it answers: a call reaches the listener
 * with the guest's own JSON text of `args`, and its promise is settled later from the host
 * (`take`, then `settle` inside an entry into the guest). Bad arguments get a promise already
 * rejected, never a throw.
 */
export class ToolCalls {
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;

  constructor(
    private readonly ctx: QuickJSContext,
    private readonly raw: RawOps,
    private readonly json: GuestJson,
    private readonly host: ToolCallHost,
  ) {}

  /** `callTool(name, args)`: answers the raw promise value the engine takes over. */
  call(nameHandle: QuickJSHandle, argsHandle: QuickJSHandle | undefined): OwnedValue {
    const ctx = this.ctx;
    const raw = this.raw;
    if (ctx.typeof(nameHandle) !== 'string') return this.rejected('callTool: the tool name must be a string');
    // Read exactly: a name cut at a NUL would reach another tool (see guest-string.ts).
    const name = readGuestString(raw, borrow(nameHandle), borrow(this.json.stringifyFn));
    if (name === undefined) return this.rejected('callTool: the tool name could not be read');
    if (name.length > MAX_TOOL_NAME) return this.rejected(`callTool: the tool name is longer than ${MAX_TOOL_NAME} characters`, 'RangeError');
    let argsJson = '{}';
    if (argsHandle) {
      // The guest's own JSON.stringify: getters and toJSON run there, never here.
      const json = this.json.stringify(borrow(argsHandle));
      if (json.error !== undefined) {
        const info = this.json.readError(json.error);
        json.error.dispose();
        return this.rejected(`callTool: args are not JSON-serializable: ${info.message}`);
      }
      const { text } = json;
      if (text === 'undefined') {
        if (ctx.typeof(argsHandle) !== 'undefined') return this.rejected('callTool: args must be an object');
      } else if (text !== 'null') {
        if (text.charCodeAt(0) !== 123 /* { */) return this.rejected('callTool: args must be an object');
        const max = this.host.limits().maxResultBytes;
        if (utf8Length(text) > max) return this.rejected(`callTool: args exceed ${max} bytes`, 'RangeError');
        argsJson = text;
      }
    }
    const { promise, resolve, reject } = raw.newPromise();
    const id = this.nextId++;
    this.pending.set(id, { resolve, reject });
    try {
      this.host.flushStdout();
      this.host.listener().onToolCall(id, name, argsJson);
    } catch (err) {
      // The promise never reached the engine: release it (the error goes to the guest).
      raw.free(promise);
      const call = this.take(id);
      if (call) this.free(call);
      throw err;
    }
    return promise;
  }

  /** The pending call `id`, no longer pending; undefined when there is none (settled already). */
  take(id: number): PendingCall | undefined {
    const call = this.pending.get(id);
    if (call) this.pending.delete(id);
    return call;
  }

  /**
   * Settles a call's promise (run inside an entry into the guest), then frees its resolving
   * functions. Answers the error a resolving function threw, for the entry to report.
   */
  settle(call: PendingCall, settlement: ToolSettlement): { error: QuickJSHandle } | undefined {
    try {
      return settlement.ok ? this.resolve(call, settlement.resultJson) : this.reject(call, settlement.error);
    } finally {
      this.free(call);
    }
  }

  /** Frees the resolving functions of the calls still pending (the sandbox is disposed). */
  dispose(): void {
    try {
      for (const call of this.pending.values()) this.free(call);
    } finally {
      this.pending.clear();
    }
  }

  /** Resolves a call's promise with the result, parsed by the guest's own `JSON.parse`. */
  private resolve(call: PendingCall, resultJson: string | undefined): { error: QuickJSHandle } | undefined {
    const raw = this.raw;
    const constant = resultJson === undefined ? this.ctx.undefined : CONSTANTS[resultJson]?.(this.ctx);
    let done: RawResult;
    if (constant) {
      // `undefined`, `null`, `true`, `false`: the engine's own constants, no parse needed.
      done = raw.call(call.resolve, borrow(constant));
    } else {
      const parsed = this.json.parse(resultJson!);
      if (parsed.error !== undefined) return { error: raw.handle(parsed.error) };
      done = raw.call(call.resolve, parsed.value);
      raw.free(parsed.value);
    }
    if (done.error !== undefined) return { error: raw.handle(done.error) };
    raw.free(done.value);
    return undefined;
  }

  /** Rejects a call's promise with an `Error` carrying the tool's code (and details). */
  private reject(call: PendingCall, failure: { message: string; code: string; details?: unknown }): { error: QuickJSHandle } | undefined {
    const ctx = this.ctx;
    const raw = this.raw;
    const { message, code, details } = failure;
    return ValueScope.run(raw, (scope) => {
      const error = scope.manage(ctx.newError({ name: 'Error', message }));
      ctx.setProp(error, 'code', scope.manage(ctx.newString(code)));
      if (details !== undefined) {
        const parsed = this.json.parse(JSON.stringify(details));
        if (parsed.error !== undefined) raw.free(parsed.error);
        else ctx.setProp(error, 'details', scope.manage(raw.handle(parsed.value)));
      }
      const done = raw.call(call.reject, borrow(error));
      if (done.error !== undefined) return { error: raw.handle(done.error) };
      raw.free(done.value);
      return undefined;
    });
  }

  /** A promise already rejected with a `name` error: how `callTool` refuses bad arguments. */
  private rejected(message: string, name = 'TypeError'): OwnedValue {
    const raw = this.raw;
    return ValueScope.run(raw, (scope) => {
      const { promise, resolve, reject } = raw.newPromise();
      scope.own(promise);
      scope.own(resolve);
      const error = scope.manage(this.ctx.newError({ name, message }));
      const done = raw.call(scope.own(reject), borrow(error));
      raw.free(done.error === undefined ? done.value : done.error);
      return scope.keep(promise);
    });
  }

  private free(call: PendingCall): void {
    this.raw.free(call.resolve);
    this.raw.free(call.reject);
  }
}

const CONSTANTS: Record<string, ((ctx: QuickJSContext) => QuickJSHandle) | undefined> = Object.assign(Object.create(null) as object, {
  null: (ctx: QuickJSContext) => ctx.null,
  true: (ctx: QuickJSContext) => ctx.true,
  false: (ctx: QuickJSContext) => ctx.false,
});
