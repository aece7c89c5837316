import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import type { LogLevel } from '../protocol/events.js';
import { DEEP_FREEZE_SOURCE, FORMATTER_SOURCE } from './guest-source.js';
import { AGENT_FILE, prepareAgentCode } from './agent-code.js';
import { classifyGuestError, classifyHostError, engineFailure, isWasmAbort, memoryLimit, type GuestErrorInfo } from './errors.js';
import type { ModulePool, ModuleSlot } from './modules.js';
import { installDeterminism, type VirtualClock } from './determinism.js';
import { installFastHostCalls, newRawFunction } from './host-calls.js';
import { installToolNamespace } from './tool-namespace.js';
import { borrow, RawOps, type OwnedValue, type RawResult } from './raw.js';
import { ValueScope } from './value-scope.js';
import { readGuestString } from './guest-string.js';
import { readThrownValue } from './thrown-value.js';
import { intrinsicsFor, LEAN_INTRINSICS, needsTypedArrays } from './intrinsics.js';
import type {
  SandboxFailure,
  SandboxHandle,
  SandboxListener,
  SandboxSpec,
  ToolSettlement,
} from './types.js';
import { utf8Length } from '../util/bytes.js';
export { utf8Length };

const MAX_TIMERS = 10_000;
const MAX_TOOL_NAME = 1024;
/** Jobs run between two looks at whether the agent's function settled. */
const JOB_BATCH = 256;

interface Timer {
  /** The host timer; absent when the listener runs the session's timers (see `onTimerSet`). */
  host?: ReturnType<typeof setTimeout>;
  fn: QuickJSHandle;
  args: QuickJSHandle[];
  /** Delay asked for, and whether the listener was told (listener-run timers only). */
  ms?: number;
  reported?: boolean;
}

type Outcome = SandboxFailure | { ok: true; resultJson?: string };

/** A pending `callTool` promise's resolving functions (raw values the sandbox owns). */
interface Resolvers {
  resolve: OwnedValue;
  reject: OwnedValue;
}

/**
 * One agent script in its own QuickJS runtime. The guest's globals (`callTool`, `console`,
 * `setTimeout`, `clearTimeout`, `context`) are host functions: no bootstrap script is parsed
 * per session. Values cross the boundary as JSON text only, turned into values by the
 * guest's own `JSON.parse`/`JSON.stringify` (captured before the agent's code runs), so no
 * host object reaches the guest and no guest getter, `toJSON` or proxy runs on the host.
 */
export class QuickJSSandbox implements SandboxHandle {
  private runtime!: QuickJSRuntime;
  private ctx!: QuickJSContext;
  private readonly owned: QuickJSHandle[] = [];
  private jsonParse!: QuickJSHandle;
  private jsonStringify!: QuickJSHandle;
  /** `Object.freeze`, captured before any guest code runs (the guest may replace the global). */
  private objectFreeze!: QuickJSHandle;
  private formatter: QuickJSHandle | undefined;
  private main: QuickJSHandle | undefined;
  private deadline = Infinity;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly timers = new Map<number, Timer>();
  private nextTimer = 1;
  private readonly calls = new Map<number, Resolvers>();
  /** The tool-call path's engine operations on raw values (see raw.ts). */
  private raw!: RawOps;
  private nextCallId = 1;
  /** Set when the host decided the guest must stop; the interrupt handler reads it. */
  private stop: SandboxFailure | undefined;
  private outcome: Outcome | undefined;
  private ended = false;
  private depth = 0;
  private outputBytes = 0;
  private stdoutBuffer = '';
  /** Host commands that arrived while the guest was on the stack: tool settlements, or timer firings (`[timer, at]`). */
  private deferred: ([number, ToolSettlement] | [number, number])[] = [];
  /** Deferred inputs are being applied (see `runInputs`). */
  private settling = false;
  /**
   * Set when the listener runs the timers (a deterministic session): timers set and cleared
   * during the current entry into the guest, reported to the listener when the guest yields.
   */
  private timerReports: { set: number[]; cleared: number[] } | undefined;
  /** Interrupt polls between two calls of the handler (see `pace`). */
  private pollEvery = FIRST_CHECK_POLLS;
  /** `performance.now()` at the last handler call, or at the entry into the guest. */
  private lastCheck = 0;
  /** The runtime may be unsafe to dispose (out of memory, a crash): its module is dropped instead. */
  private tainted = false;
  private disposed = false;
  /** Runtime, context and the spec-free globals exist (see `prepare`). */
  private prepared = false;
  /** The context has the typed arrays (see intrinsics.ts). */
  private typedArrays = false;
  private spec!: SandboxSpec;
  private listener!: SandboxListener;
  /** The session's virtual clock when it is durable (see determinism.ts). */
  private clock: VirtualClock | undefined;

  /**
   * `spec` and `listener` may be given here or to `start()`. A sandbox without them can be
   * `prepare()`d ahead of need; it serves exactly one session, then is disposed.
   */
  constructor(
    private readonly pool: ModulePool,
    readonly slot: ModuleSlot,
    spec?: SandboxSpec,
    listener?: SandboxListener,
  ) {
    if (spec) this.spec = spec;
    if (listener) this.listener = listener;
    pool.bind(slot, this);
  }

  /** Creates the runtime, installs the globals and runs the code up to its first wait. */
  start(spec?: SandboxSpec, listener?: SandboxListener): void {
    if (spec) this.spec = spec;
    if (listener) this.listener = listener;
    this.deadline = Date.now() + this.spec.limits.timeoutMs;
    try {
      if (!this.prepared) this.prepare();
      else if (!this.typedArrays && needsTypedArrays(this.spec.code)) {
        throw new Error('a sandbox prepared without typed arrays was given a script that names them');
      }
      this.applySpec();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.armDeadline();
    this.enter(() => this.compileAndRun());
  }

  /** The host timer that ends the session at its deadline while it waits (tools, timers). */
  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.abort(this.timeout()), Math.max(0, this.deadline - Date.now()));
  }

  private timeout(): SandboxFailure {
    return { code: 'TIMEOUT', message: `execution exceeded ${this.spec.limits.timeoutMs} ms` };
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    this.input([id, settlement]);
  }

  extendDeadline(ms: number): void {
    if (this.ended || !Number.isFinite(ms) || ms === 0 || this.deadline === Infinity) return;
    this.deadline += ms;
    this.armDeadline();
  }

  /** Fires a timer the listener runs (see `onTimerSet`), moving the clock to `at` first. */
  fireTimer(id: number, at: number): void {
    this.input([id, at]);
  }

  /**
   * Applies a host input (a tool settlement, or a timer firing `[timer, at]`), then those that
   * arrived meanwhile, in order: a loop, not recursion, so a re-run fed thousands of journaled
   * inputs stays flat. One that arrives while the guest is on the stack (a tool that answered
   * synchronously) or while inputs are being applied waits its turn in `deferred`.
   */
  private input(entry: [number, ToolSettlement] | [number, number]): void {
    if (this.ended) return;
    if (this.depth > 0 || this.settling) {
      this.deferred.push(entry);
      return;
    }
    this.settling = true;
    try {
      for (let next: typeof entry | undefined = entry; next && !this.ended; next = this.deferred.shift()) {
        const [id, value] = next;
        if (typeof value === 'number') this.applyTimer(id, value);
        else this.applySettlement(id, value);
      }
    } finally {
      this.settling = false;
    }
  }

  private applySettlement(id: number, settlement: ToolSettlement): void {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    if (settlement.at !== undefined) this.clock?.advance(settlement.at);
    this.enter(() => {
      try {
        return settlement.ok ? this.resolveCall(call, settlement.resultJson) : this.rejectCall(call, settlement.error);
      } finally {
        this.freeResolvers(call);
      }
    });
  }

  /** Resolves a call's promise with the result, parsed by the guest's own `JSON.parse`. */
  private resolveCall(call: Resolvers, resultJson: string | undefined): { error: QuickJSHandle } | undefined {
    const raw = this.raw;
    const constant = resultJson === undefined ? this.ctx.undefined : CONSTANTS[resultJson]?.(this.ctx);
    let done: RawResult;
    if (constant) {
      // `undefined`, `null`, `true`, `false`: the engine's own constants, no parse needed.
      done = raw.call(call.resolve, borrow(constant));
    } else {
      const parsed = this.parseInGuest(resultJson!);
      if (parsed.error !== undefined) return { error: raw.handle(parsed.error) };
      done = raw.call(call.resolve, parsed.value);
      raw.free(parsed.value);
    }
    if (done.error !== undefined) return { error: raw.handle(done.error) };
    raw.free(done.value);
    return undefined;
  }

  /** Rejects a call's promise with an `Error` carrying the tool's code (and details). */
  private rejectCall(call: Resolvers, failure: { message: string; code: string; details?: unknown }): { error: QuickJSHandle } | undefined {
    const ctx = this.ctx;
    const raw = this.raw;
    const { message, code, details } = failure;
    return ValueScope.run(raw, (scope) => {
      const error = scope.manage(ctx.newError({ name: 'Error', message }));
      ctx.setProp(error, 'code', scope.manage(ctx.newString(code)));
      if (details !== undefined) {
        const parsed = this.parseInGuest(JSON.stringify(details));
        if (parsed.error !== undefined) raw.free(parsed.error);
        else ctx.setProp(error, 'details', scope.manage(raw.handle(parsed.value)));
      }
      const done = raw.call(call.reject, borrow(error));
      if (done.error !== undefined) return { error: raw.handle(done.error) };
      raw.free(done.value);
      return undefined;
    });
  }

  private freeResolvers(call: Resolvers): void {
    this.raw.free(call.resolve);
    this.raw.free(call.reject);
  }

  private applyTimer(id: number, at: number): void {
    const timer = this.timers.get(id);
    // Cleared, or fired already: nothing happens (and the clock stays).
    if (!timer) return;
    if (this.pastDeadline()) return;
    this.timers.delete(id);
    this.clock?.advance(at);
    this.enter(() => {
      try {
        return this.ctx.callFunction(timer.fn, this.ctx.undefined, ...timer.args);
      } finally {
        disposeTimer(timer);
      }
    });
  }

  /**
   * A timer that comes due once the deadline has passed (its host timer, or the listener's,
   * ran late) ends the session with TIMEOUT instead of running: true then.
   */
  private pastDeadline(): boolean {
    if (Date.now() <= this.deadline) return false;
    this.abort(this.timeout());
    return true;
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
    this.finish(engineFailure(reason));
  }

  // ---- set-up ---------------------------------------------------------------------------

  /**
   * Creates the runtime and context and installs the globals that do not depend on the
   * session (everything but `context`). Nothing of the guest runs here; the limits, the
   * interrupt deadline and `context` are applied by `start()`.
   */
  prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    // Room for the runtime, the context and the globals; the session's own limit comes in `applySpec`.
    this.slot.memory.allow(PREPARE_BYTES);
    const runtime = this.slot.module.newRuntime();
    this.runtime = runtime;
    runtime.setInterruptHandler(() => {
      if (this.stop === undefined && this.slot.memory.refused) this.stop = memoryLimit();
      if (this.stop === undefined && this.listener?.pollAbort) this.stop = this.listener.pollAbort();
      if (this.stop) return true;
      if (Date.now() > this.deadline) {
        this.stop = this.timeout();
        return true;
      }
      this.pace();
      return false;
    });
    // A spare, prepared before its session is known, gets the lean set (see intrinsics.ts).
    const intrinsics = this.spec ? intrinsicsFor(this.spec.code) : LEAN_INTRINSICS;
    this.typedArrays = intrinsics.TypedArrays === true;
    const ctx = runtime.newContext({ intrinsics });
    this.ctx = ctx;
    const raw = RawOps.create(ctx);
    if (!raw || !installFastHostCalls(ctx)) throw new Error('this quickjs-emscripten-core version is not supported (see package.json)');
    this.raw = raw;
    const own = <T extends QuickJSHandle>(h: T): T => {
      this.owned.push(h);
      return h;
    };
    const global = borrow(ctx.global);
    const json = raw.getProp(global, 'JSON');
    this.jsonParse = own(raw.handle(raw.getProp(json, 'parse')));
    this.jsonStringify = own(raw.handle(raw.getProp(json, 'stringify')));
    raw.free(json);
    this.objectFreeze = own(raw.handle(raw.getPropOf(global, 'Object', 'freeze')));

    const define = (name: string, value: QuickJSHandle) => {
      raw.defineProp(global, name, { value: borrow(value), configurable: false, enumerable: false });
      value.dispose();
    };
    // Answers a raw value pointer: the fast dispatch (host-calls.ts) hands it to the engine.
    define('callTool', newRawFunction(ctx, 'callTool', (name, args) => this.onCallTool(name, args)));
    define('setTimeout', ctx.newFunction('setTimeout', (fn, ms, ...args) => this.onSetTimeout(fn, ms, args)));
    define('clearTimeout', ctx.newFunction('clearTimeout', (id) => this.onClearTimeout(id)));

    // `console` is built on first read: seven functions and a frozen object cost more than a
    // short session's whole run, and most scripts never log. It is a getter-only accessor that
    // cannot be reconfigured, answering the same frozen object on every read.
    let consoleObject: QuickJSHandle | undefined;
    const getConsole = ctx.newFunction('console', () => (consoleObject ??= own(this.buildConsole())).dup());
    raw.defineProp(global, 'console', { get: borrow(getConsole), configurable: false, enumerable: false });
    getConsole.dispose();
  }

  private buildConsole(): QuickJSHandle {
    const ctx = this.ctx;
    const consoleObject = ctx.newObject();
    // Built while guest code runs: an interrupt or the memory limit may stop it half-way, and
    // then no handle may outlive the call.
    try {
      const writers: [string, number][] = [['log', 0], ['dir', 0], ['debug', 1], ['trace', 1], ['info', 2], ['warn', 3], ['error', 4]];
      for (const [name, kind] of writers) {
        const fn = ctx.newFunction(name, (...args) => this.onConsole(kind, args));
        try {
          ctx.defineProp(consoleObject, name, { value: fn, configurable: false, enumerable: true });
        } finally {
          fn.dispose();
        }
      }
      this.freeze(consoleObject);
      return consoleObject;
    } catch (err) {
      consoleObject.dispose();
      throw err;
    }
  }

  /**
   * Keeps the interrupt handler's calls about `CHECK_MS` apart. QuickJS calls it every
   * 10 000 polls (loop back-edges, function entries); a loop whose every iteration calls a
   * slow built-in (`for (…) s.indexOf(…)` on a long string) would otherwise hold the thread
   * for seconds between two looks at the deadline, a cancel or the memory ceiling. The
   * interval shrinks, down to every poll, when calls come late, and grows back when they
   * come early (see interrupt-counter.ts).
   */
  private pace(): void {
    const counter = this.pool.interruptCounter;
    if (!counter) return;
    const now = performance.now();
    const elapsed = now - this.lastCheck;
    this.lastCheck = now;
    const every = this.pollEvery;
    const next = Math.max(1, Math.min(MAX_CHECK_POLLS, Math.round((every * CHECK_MS) / Math.max(elapsed, 0.001))));
    // Quartered or quadrupled at most per call: one odd stretch moves it gently.
    this.pollEvery = Math.max(Math.floor(every / 4) || 1, Math.min(every * 4, next));
    counter.set(this.ctx, this.slot.memory, this.pollEvery);
  }

  /** Disposes a prepared sandbox that never started. */
  discard(): void {
    if (this.ended) return;
    this.ended = true;
    this.dispose();
  }

  /** The session's own part: limits, then the frozen `context` global. */
  private applySpec(): void {
    const { limits } = this.spec;
    const runtime = this.runtime;
    const ctx = this.ctx;
    runtime.setMemoryLimit(limits.memoryLimitBytes);
    // What bounds the total: the module's memory (its runtime, context and globals included)
    // may grow by the limit past its starting size, and no more. At the
    // ceiling, the guest's next interrupt poll comes at once (see interrupt-counter.ts).
    this.slot.memory.limit(this.slot.baseBytes + limits.memoryLimitBytes);
    const counter = this.pool.interruptCounter;
    if (counter) this.slot.memory.onRefused = () => counter.trip(ctx, this.slot.memory);
    runtime.setMaxStackSize(Math.min(limits.maxStackBytes, this.pool.maxStackBytes));
    if (this.spec.determinism) {
      this.clock = installDeterminism(ctx, this.raw, this.spec.determinism, (h) => this.owned.push(h));
      // Timer firings are inputs of a deterministic session: the listener decides when they happen.
      if (this.listener.onTimerSet) this.timerReports = { set: [], cleared: [] };
    }
    if (this.spec.toolNamespace) {
      installToolNamespace(ctx, this.raw, this.spec.toolNamespace, (h) => this.owned.push(h));
    }

    this.installContext(this.spec.contextJson);
  }

  /**
   * Defines the frozen `context` global from its JSON, parsed by the guest's own `JSON.parse`
   * (captured before any guest code ran). Through raw engine calls: with quickjs-emscripten's
   * handles this was a twentieth of a short session.
   */
  private installContext(json: string): void {
    const raw = this.raw;
    const ctx = this.ctx;
    ValueScope.run(raw, (scope) => {
      const parsed = this.parseInGuest(json);
      // The host checked the JSON: a parse failure here is the memory limit or an interrupt.
      if (parsed.error !== undefined) throw this.rawFailure(parsed.error);
      const value = scope.own(parsed.value);
      // A nested context is frozen all the way down by a guest function parsed for it.
      const nested = json.includes('{', 1) || json.includes('[', 1);
      const freeze = nested ? scope.manage(ctx.unwrapResult(ctx.evalCode(DEEP_FREEZE_SOURCE, 'enclave:guest'))) : this.objectFreeze;
      const frozen = raw.call(borrow(freeze), value);
      if (frozen.error !== undefined) throw this.rawFailure(frozen.error);
      raw.free(frozen.value);
      raw.defineProp(borrow(ctx.global), 'context', { value, configurable: false, enumerable: false });
    });
  }

  /** An error for a raw call that threw in set-up (an interrupt, out of memory); frees the thrown value. */
  private rawFailure(thrown: OwnedValue): Error {
    const handle = this.raw.handle(thrown);
    try {
      const info = this.readError(handle);
      return new Error(`${info.name ?? 'Error'}: ${info.message}`);
    } finally {
      handle.dispose();
    }
  }

  /** `Object.freeze(handle)`, with the function captured before any guest code ran. */
  private freeze(handle: QuickJSHandle): void {
    const ctx = this.ctx;
    ctx.unwrapResult(ctx.callFunction(this.objectFreeze, ctx.undefined, handle)).dispose();
  }

  private compileAndRun() {
    const ctx = this.ctx;
    // Parsed on the host first: code that would close the wrapper early never reaches QuickJS.
    const prepared = prepareAgentCode(this.spec.code);
    if (!prepared.ok) {
      this.outcome = prepared.failure;
      return undefined;
    }
    const compiled = ctx.evalCode(prepared.source, AGENT_FILE);
    if (compiled.error) {
      const info = this.readError(compiled.error);
      compiled.error.dispose();
      this.outcome = this.stop ?? classifyGuestError(info, 'compile');
      return undefined;
    }
    const fn = compiled.value;
    const called = ctx.callFunction(fn, ctx.undefined);
    fn.dispose();
    if (called.error) return called;
    this.main = called.value;
    return undefined;
  }

  // ---- running --------------------------------------------------------------------------

  /**
   * Runs one entry into the guest, then its pending jobs, then settles what it led to.
   * A WASM abort here takes the whole module down (and every sandbox in it).
   */
  private enter(fn: () => { error?: QuickJSHandle; value?: QuickJSHandle } | undefined): void {
    const outer = this.depth++ === 0;
    if (outer) {
      this.lastCheck = performance.now();
      // Each entry starts with a short interval (see `pace`): the time it takes is unknown.
      const counter = this.pool.interruptCounter;
      if (counter && this.ctx) {
        this.pollEvery = Math.min(this.pollEvery, FIRST_CHECK_POLLS);
        counter.set(this.ctx, this.slot.memory, this.pollEvery);
      }
      this.listener.onGuest?.(true);
    }
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
      if (!this.outcome && !this.stop) this.checkMain();
      if (!this.outcome && !this.stop) this.drainJobs();
      // An allocation refused at the memory ceiling ends the session, caught by the guest or not.
      if (this.slot.memory.refused) this.stop ??= memoryLimit();
    } catch (err) {
      this.depth--;
      if (outer) this.listener.onGuest?.(false);
      this.fail(err);
      return;
    }
    this.depth--;
    if (outer) this.listener.onGuest?.(false);
    this.flushStdout();
    // A guest stopped at the memory ceiling may have left the engine mid-allocation: its
    // module is dropped. One stopped by an interrupt (deadline, cancel, output limits) is
    // freed and its module reused; should freeing abort the module, only this sandbox's goes.
    if (this.stop?.code === 'MEMORY_LIMIT') this.tainted = true;
    const outcome = this.stop ?? this.outcome;
    if (outcome) {
      this.finish(outcome);
      return;
    }
    if (this.timerReports && this.depth === 0) this.reportTimers();
    if (this.depth === 0 && !this.settling && this.deferred.length > 0) this.input(this.deferred.shift()!);
  }

  /**
   * Runs pending jobs in batches, looking after each batch whether the agent's function
   * settled: jobs still queued then (a microtask flood left behind) are dropped with the
   * runtime, and the result stands.
   */
  private drainJobs(): void {
    for (;;) {
      const res = this.raw.executePendingJobs(JOB_BATCH);
      if (res.error) {
        const info = this.readError(res.error);
        res.error.dispose();
        this.outcome ??= this.stop ?? classifyGuestError(info, 'run');
        return;
      }
      if (this.outcome || this.stop) return;
      this.checkMain();
      if (res.value === 0 || this.outcome) return;
    }
  }

  private mainSettled(): boolean {
    return this.main !== undefined && this.raw.promiseState(borrow(this.main)) !== 0;
  }

  /** Looks whether the agent's async function settled, and takes its result if so. */
  private checkMain(): void {
    const main = this.main;
    if (!main || this.raw.promiseState(borrow(main)) === 0) return;
    const state = this.ctx.getPromiseState(main);
    if (state.type === 'pending') return;
    if (state.type === 'fulfilled' && state.notAPromise) {
      this.outcome = { code: 'RUNTIME_ERROR', message: 'the code broke out of the async function it runs in' };
      return;
    }
    if (state.type === 'rejected') {
      const info = this.readError(state.error);
      state.error.dispose();
      this.outcome = classifyGuestError(info, 'run');
      return;
    }
    const value = state.value;
    try {
      this.outcome = this.serializeResult(value);
    } finally {
      if (value !== main) value.dispose();
    }
  }

  private serializeResult(value: QuickJSHandle): Outcome {
    const ctx = this.ctx;
    const raw = this.raw;
    const json = raw.call(borrow(this.jsonStringify), borrow(value));
    if (json.error !== undefined) {
      const error = raw.handle(json.error);
      const info = this.readError(error);
      error.dispose();
      const failure = classifyGuestError(info, 'run');
      if (failure.code !== 'RUNTIME_ERROR') return failure;
      return { code: 'INVALID_RESULT', message: `the result is not JSON-representable: ${info.message}` };
    }
    // JSON text, or `undefined` (read as "undefined", which no JSON text is).
    const text = raw.getString(json.value);
    raw.free(json.value);
    if (text === 'undefined') {
      const type = ctx.typeof(value);
      if (type === 'undefined') return { ok: true };
      return { code: 'INVALID_RESULT', message: `the result is not JSON-representable: a result of type ${type}` };
    }
    if (utf8Length(text) > this.spec.limits.maxResultBytes && this.spec.limits.resultOverflow !== 'truncate') {
      return { code: 'RESULT_TOO_LARGE', message: `the result exceeds ${this.spec.limits.maxResultBytes} bytes` };
    }
    return { ok: true, resultJson: text };
  }

  /**
   * `JSON.parse` in the guest, with the function captured before any guest code ran: the value
   * is the guest's own, built by the guest's engine. The value (or the thrown one) is the caller's.
   */
  private parseInGuest(json: string): RawResult {
    const text = this.raw.newString(json);
    const parsed = this.raw.call(borrow(this.jsonParse), text);
    this.raw.free(text);
    return parsed;
  }

  private readError(handle: QuickJSHandle): GuestErrorInfo {
    return readThrownValue(this.ctx, this.raw, handle, this.jsonStringify);
  }

  // ---- globals (host functions, called while the guest is on the stack) ------------------

  /** `callTool(name, args)`: answers the raw promise value the engine takes over. */
  private onCallTool(nameHandle: QuickJSHandle, argsHandle: QuickJSHandle | undefined): OwnedValue {
    const ctx = this.ctx;
    const raw = this.raw;
    if (ctx.typeof(nameHandle) !== 'string') return this.rejectedPromise('callTool: the tool name must be a string');
    // Read exactly: a name cut at a NUL would reach another tool (see guest-string.ts).
    const name = readGuestString(raw, borrow(nameHandle), borrow(this.jsonStringify));
    if (name === undefined) return this.rejectedPromise('callTool: the tool name could not be read');
    if (name.length > MAX_TOOL_NAME) return this.rejectedPromise(`callTool: the tool name is longer than ${MAX_TOOL_NAME} characters`, 'RangeError');
    let argsJson = '{}';
    if (argsHandle) {
      // The guest's own JSON.stringify: getters and toJSON run there, never here.
      const json = raw.call(borrow(this.jsonStringify), borrow(argsHandle));
      if (json.error !== undefined) {
        const error = raw.handle(json.error);
        const info = this.readError(error);
        error.dispose();
        return this.rejectedPromise(`callTool: args are not JSON-serializable: ${info.message}`);
      }
      // JSON text, or `undefined` (read as the string "undefined", which no JSON text is).
      const text = raw.getString(json.value);
      raw.free(json.value);
      if (text === 'undefined') {
        if (ctx.typeof(argsHandle) !== 'undefined') return this.rejectedPromise('callTool: args must be an object');
      } else if (text !== 'null') {
        if (text.charCodeAt(0) !== 123 /* { */) return this.rejectedPromise('callTool: args must be an object');
        if (utf8Length(text) > this.spec.limits.maxResultBytes) {
          return this.rejectedPromise(`callTool: args exceed ${this.spec.limits.maxResultBytes} bytes`, 'RangeError');
        }
        argsJson = text;
      }
    }
    const { promise, resolve, reject } = raw.newPromise();
    const id = this.nextCallId++;
    this.calls.set(id, { resolve, reject });
    try {
      this.flushStdout();
      this.listener.onToolCall(id, name, argsJson);
    } catch (err) {
      // The promise never reached the engine: release it (the error goes to the guest).
      raw.free(promise);
      const call = this.calls.get(id);
      if (call) {
        this.calls.delete(id);
        this.freeResolvers(call);
      }
      throw err;
    }
    return promise;
  }

  /** A promise already rejected with a `name` error: how `callTool` refuses bad arguments. */
  private rejectedPromise(message: string, name = 'TypeError'): OwnedValue {
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

  private onConsole(kind: number, args: QuickJSHandle[]): void {
    if (this.stop || this.outcome || this.mainSettled()) return;
    const text = this.format(args);
    const line = kind === 0 ? text + '\n' : text;
    this.outputBytes += utf8Length(line);
    if (this.outputBytes > this.spec.limits.maxStdoutBytes) {
      this.stop = { code: 'STDOUT_LIMIT', message: `console output exceeded ${this.spec.limits.maxStdoutBytes} bytes` };
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

  /** Plain strings and numbers are joined here; anything else goes to the guest formatter. */
  private format(args: QuickJSHandle[]): string {
    const ctx = this.ctx;
    let out = '';
    let plain = true;
    for (let i = 0; i < args.length && plain; i++) {
      const type = ctx.typeof(args[i]!);
      if (type === 'string') {
        const s = ctx.getString(args[i]!);
        if (i === 0 && args.length > 1 && s.includes('%')) plain = false;
        else out += (i ? ' ' : '') + s;
      } else if (type === 'number') {
        const n = ctx.getNumber(args[i]!);
        if (Object.is(n, -0)) plain = false;
        else out += (i ? ' ' : '') + String(n);
      } else if (type === 'boolean') {
        out += (i ? ' ' : '') + String(ctx.dump(args[i]!));
      } else plain = false;
    }
    if (plain) return out;
    if (!this.formatter) this.formatter = ctx.unwrapResult(ctx.evalCode(FORMATTER_SOURCE, 'enclave:guest'));
    const result = ctx.callFunction(this.formatter, ctx.undefined, ...args);
    if (result.error) {
      result.error.dispose();
      return '[unprintable]';
    }
    const text = ctx.typeof(result.value) === 'string' ? ctx.getString(result.value) : '[unprintable]';
    result.value.dispose();
    return text;
  }

  private onSetTimeout(fn: QuickJSHandle | undefined, msHandle: QuickJSHandle | undefined, args: QuickJSHandle[]): QuickJSHandle {
    const ctx = this.ctx;
    if (!fn || ctx.typeof(fn) !== 'function') throw new TypeError('setTimeout: the callback must be a function');
    if (this.timers.size >= MAX_TIMERS) throw new Error('setTimeout: too many pending timers');
    const requested = msHandle ? this.toNumber(msHandle) : 0;
    const ms = Number.isFinite(requested) && requested > 0 ? requested : 0;
    const id = this.nextTimer++;
    const now = Date.now();
    const timer: Timer = { fn: fn.dup(), args: args.map((a) => a.dup()) };
    if (this.timerReports) {
      // The listener does not fire a timer due at or after the session's deadline (Session.onTimerSet).
      timer.ms = Math.min(ms, Math.max(0, this.deadline - now) + 1);
      this.timerReports.set.push(id);
    } else if (now + ms < this.deadline) {
      timer.host = setTimeout(() => this.fire(id), ms);
    }
    // Otherwise it is due at or after the deadline: it gets no host timer and never fires, so
    // the deadline ends the session first (two host timers due a millisecond apart can fire
    // in either order).
    this.timers.set(id, timer);
    return ctx.newNumber(id);
  }

  /** `Number(value)` in the guest (its `valueOf` runs there); a throw goes back to the guest. */
  private toNumber(value: QuickJSHandle): number {
    const ctx = this.ctx;
    const type = ctx.typeof(value);
    if (type === 'number') return ctx.getNumber(value);
    if (type === 'undefined') return 0;
    const numberCtor = ctx.getProp(ctx.global, 'Number');
    const result = ctx.callFunction(numberCtor, ctx.undefined, value);
    numberCtor.dispose();
    if (result.error) throw result.error;
    const n = ctx.typeof(result.value) === 'number' ? ctx.getNumber(result.value) : 0;
    result.value.dispose();
    return n;
  }

  private onClearTimeout(idHandle: QuickJSHandle | undefined): void {
    if (!idHandle || this.ctx.typeof(idHandle) !== 'number') return;
    const id = this.ctx.getNumber(idHandle);
    const timer = this.timers.get(id);
    if (!timer) return;
    this.timers.delete(id);
    if (timer.host !== undefined) clearTimeout(timer.host);
    if (timer.reported) this.timerReports!.cleared.push(id);
    disposeTimer(timer);
  }

  /** Tells the listener which timers the guest set (still pending) and cleared since the last report. */
  private reportTimers(): void {
    const reports = this.timerReports!;
    if (reports.cleared.length > 0) {
      const cleared = reports.cleared;
      reports.cleared = [];
      for (const id of cleared) this.listener.onTimerCleared?.(id);
    }
    if (reports.set.length > 0) {
      const set = reports.set;
      reports.set = [];
      for (const id of set) {
        const timer = this.timers.get(id);
        // Set and cleared within one turn of the guest: the listener never hears of it.
        if (!timer) continue;
        timer.reported = true;
        this.listener.onTimerSet!(id, timer.ms ?? 0);
      }
    }
  }

  private fire(id: number): void {
    const timer = this.timers.get(id);
    if (!timer || this.ended) return;
    if (this.pastDeadline()) return;
    this.timers.delete(id);
    this.enter(() => {
      try {
        return this.ctx.callFunction(timer.fn, this.ctx.undefined, ...timer.args);
      } finally {
        disposeTimer(timer);
      }
    });
  }

  private flushStdout(): void {
    if (!this.stdoutBuffer) return;
    const chunk = this.stdoutBuffer;
    this.stdoutBuffer = '';
    this.listener.onStdout(chunk);
  }

  // ---- ending ---------------------------------------------------------------------------

  /** Ends the session after an exception escaped the engine (see `classifyHostError`). */
  private fail(err: unknown): void {
    const { failure, moduleCrash } = classifyHostError(err, this.slot.memory.refused, this.stop);
    // Whatever it was, the runtime may be unsafe to free: its module is dropped with it.
    this.tainted = true;
    this.finish(failure);
    if (moduleCrash !== undefined) this.pool.crash(this.slot, moduleCrash);
  }

  private finish(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if ('code' in outcome && (outcome.code === 'MEMORY_LIMIT' || outcome.code === 'SANDBOX_CRASHED')) this.tainted = true;
    for (const timer of this.timers.values()) clearTimeout(timer.host);
    // Nothing enters the guest once `ended` is set: freeing the runtime can wait until the
    // thread is idle, after the outcome went out (on Node and Bun; elsewhere at once).
    if (this.tainted || typeof setImmediate !== 'function') this.dispose();
    else disposeLater(this);
    // A spare (prepared, never started) has no listener.
    if (!this.listener) return;
    if ('ok' in outcome) this.listener.onDone(outcome);
    else this.listener.onDone({ ok: false, error: outcome });
  }

  /** Frees the runtime (see `finish`). A module that crashed meanwhile is let go as a whole. */
  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer.host);
    if (this.disposed) return;
    this.disposed = true;
    if (this.slot.crashed) return;
    if (this.tainted) {
      // Disposing a runtime after out-of-memory or an interrupted job can abort the module
      // (quickjs-emscripten #257/#269). The module is this sandbox's alone: it is dropped
      // whole, its memory with it.
      this.pool.release(this.slot, false);
      return;
    }
    let clean = false;
    try {
      for (const timer of this.timers.values()) disposeTimer(timer);
      for (const call of this.calls.values()) this.freeResolvers(call);
      this.main?.dispose();
      this.formatter?.dispose();
      for (const h of this.owned) h.dispose();
      this.raw?.dispose();
      this.ctx?.dispose();
      this.runtime?.dispose();
      clean = true;
    } catch (err) {
      if (isWasmAbort(err)) this.pool.crash(this.slot, err instanceof Error ? err.message : String(err));
    } finally {
      this.timers.clear();
      this.calls.clear();
      if (!this.slot.crashed) this.pool.release(this.slot, clean);
    }
  }
}

let toDispose: QuickJSSandbox[] = [];

/**
 * Ended sandboxes waiting for their batch. A caller that runs sessions back to back in
 * microtasks only (`for await (… of broker.execute(…))` in a loop) never lets the thread reach
 * its idle check: past this many, the batch is disposed at once, so the WASM heap (which never
 * shrinks) does not grow with the number of sessions run.
 */
const MAX_PENDING_DISPOSALS = 16;

/** Disposes ended sandboxes in one batch once the thread is idle. */
function disposeLater(sandbox: QuickJSSandbox): void {
  toDispose.push(sandbox);
  if (toDispose.length >= MAX_PENDING_DISPOSALS) return disposePending();
  if (toDispose.length > 1) return;
  setImmediate(disposePending);
}

/** Disposes the ended sandboxes waiting for their batch now. */
export function disposePending(): void {
  const batch = toDispose;
  toDispose = [];
  for (const s of batch) s.dispose();
}

const CONSTANTS: Record<string, ((ctx: QuickJSContext) => QuickJSHandle) | undefined> = Object.assign(Object.create(null) as object, {
  null: (ctx: QuickJSContext) => ctx.null,
  true: (ctx: QuickJSContext) => ctx.true,
  false: (ctx: QuickJSContext) => ctx.false,
});

/** Target time between two calls of the interrupt handler while guest code runs (see `pace`). */
const CHECK_MS = 1;
/** Polls before the first call of the handler in an entry into the guest. */
const FIRST_CHECK_POLLS = 64;
/**
 * Most polls between two calls: a hot loop then calls the handler every 50–100 µs (≈ 1 %
 * of its time), and a loop whose iterations turn slow is seen within 1000 of them.
 */
const MAX_CHECK_POLLS = 1000;

/** Memory a sandbox's runtime, context and globals may take before its session's limit applies. */
const PREPARE_BYTES = 4 * 1024 * 1024;

const LEVELS: readonly LogLevel[] = ['debug', 'debug', 'info', 'warn', 'error'];

function disposeTimer(timer: Timer): void {
  timer.fn.dispose();
  for (const a of timer.args) a.dispose();
}
