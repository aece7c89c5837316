import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import { installDeterminism, type VirtualClock } from './determinism.js';
import { installGlobals } from './globals.js';
import { GuestConsole, type ConsoleHost } from './guest-console.js';
import { GuestJson } from './guest-json.js';
import { installFastHostCalls } from './host-calls.js';
import { InterruptPace } from './interrupt-pace.js';
import { intrinsicsFor, LEAN_INTRINSICS } from './intrinsics.js';
import type { ModulePool, ModuleSlot } from './modules.js';
import { RawOps } from './raw.js';
import { GuestTimers, type TimerHost } from './timers.js';
import { ToolCalls } from './tool-calls.js';
import { installToolNamespace } from './tool-namespace.js';
import type { SandboxListener, SandboxSpec } from './types.js';

/** Memory a sandbox's runtime, context and globals may take before its session's limit applies. */
const PREPARE_BYTES = 4 * 1024 * 1024;

/** What the engine needs of the sandbox that runs it. */
export interface EngineHost extends ConsoleHost, TimerHost {
  /** The interrupt handler, called while guest code runs: true stops the guest. */
  interrupted(): boolean;
}

/**
 * What a sandbox holds in its module: the runtime, the context, and the parts behind the
 * guest's globals. Made before the session is known (a spare) or with it; given the session's
 * limits and `context` by `applySpec`; freed by `dispose`. Nothing of the guest runs while it
 * is made.
 */
export class SandboxEngine {
  readonly runtime: QuickJSRuntime;
  readonly ctx: QuickJSContext;
  /** The engine operations on raw values (see raw.ts). */
  readonly raw: RawOps;
  readonly json: GuestJson;
  readonly calls: ToolCalls;
  readonly timers: GuestTimers;
  readonly console: GuestConsole;
  readonly pace: InterruptPace;
  /** The context has the typed arrays (see intrinsics.ts). */
  readonly typedArrays: boolean;
  /** Handles that live as long as the context (determinism, the `tools` global). */
  private readonly owned: QuickJSHandle[] = [];

  /** `code`: the session's code when it is known (it decides the intrinsics). */
  constructor(
    private readonly pool: ModulePool,
    private readonly slot: ModuleSlot,
    code: string | undefined,
    host: EngineHost,
  ) {
    // Room for the runtime, the context and the globals; the session's own limit comes in `applySpec`.
    slot.memory.allow(PREPARE_BYTES);
    const runtime = slot.module.newRuntime();
    this.runtime = runtime;
    runtime.setInterruptHandler(() => host.interrupted());
    // A spare, prepared before its session is known, gets the lean set (see intrinsics.ts).
    const intrinsics = code !== undefined ? intrinsicsFor(code) : LEAN_INTRINSICS;
    this.typedArrays = intrinsics.TypedArrays === true;
    const ctx = runtime.newContext({ intrinsics });
    this.ctx = ctx;
    this.pace = new InterruptPace(pool, ctx, slot.memory);
    const raw = RawOps.create(ctx);
    if (!raw || !installFastHostCalls(ctx)) throw new Error('this quickjs-emscripten-core version is not supported (see package.json)');
    this.raw = raw;
    const json = GuestJson.capture(ctx, raw);
    this.json = json;
    const guestConsole = new GuestConsole(ctx, json, host);
    this.console = guestConsole;
    this.calls = new ToolCalls(ctx, raw, json, {
      limits: () => host.limits(),
      listener: () => host.listener(),
      flushStdout: () => guestConsole.flush(),
    });
    this.timers = new GuestTimers(ctx, host);
    installGlobals(ctx, raw, { calls: this.calls, timers: this.timers, console: guestConsole });
  }

  /**
   * The session's own part: its limits, the replayable `Date` and `Math.random` and the
   * `tools` global when asked for, then the frozen `context` global. Answers the virtual
   * clock of a deterministic session.
   */
  applySpec(spec: SandboxSpec, listener: SandboxListener): VirtualClock | undefined {
    const { limits } = spec;
    const { runtime, ctx, slot } = this;
    runtime.setMemoryLimit(limits.memoryLimitBytes);
    // What bounds the total: the module's memory (its runtime, context and globals included)
    // may grow by the limit past its starting size, and no more. At the
    // ceiling, the guest's next interrupt poll comes at once (see interrupt-counter.ts).
    const ceiling = spec.memoryCeilingBytes;
    slot.memory.limit(slot.baseBytes + Math.min(limits.memoryLimitBytes, ceiling ?? Infinity), ceiling !== undefined);
    const counter = this.pool.interruptCounter;
    if (counter) slot.memory.onRefused = () => counter.trip(ctx, slot.memory);
    runtime.setMaxStackSize(Math.min(limits.maxStackBytes, this.pool.maxStackBytes));
    let clock: VirtualClock | undefined;
    if (spec.determinism) clock = installDeterminism(ctx, this.raw, spec.determinism, (h) => this.owned.push(h));
    // A listener that runs the guest's timers decides when they fire: a deterministic session
    // (its firings are inputs, journaled), or a first turn (pool/first-turn.ts), which keeps no
    // host timer and drops itself when one is left pending.
    if (listener.onTimerSet) this.timers.reportToListener();
    if (spec.toolNamespace) {
      installToolNamespace(ctx, this.raw, spec.toolNamespace, (h) => this.owned.push(h));
    }

    this.json.installContext(spec.contextJson);
    return clock;
  }

  /** Frees everything it holds, the runtime last (the sandbox decides whether that is safe). */
  dispose(): void {
    this.timers.dispose();
    this.calls.dispose();
    this.console.dispose();
    this.json.dispose();
    for (const h of this.owned) h.dispose();
    this.raw.dispose();
    this.ctx.dispose();
    this.runtime.dispose();
  }
}
