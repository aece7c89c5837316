import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';
import { CappedMemory } from './capped-memory.js';
import { findInterruptCounter, type InterruptCounter } from './interrupt-counter.js';
import { isServerRuntime } from '../util/runtime.js';

/** What a module knows of the sandbox living in it. */
export interface ModuleTenant {
  crash(reason: string): void;
}

/**
 * A QuickJS WASM module instance serving one sandbox at a time (prepared or running). Its
 * memory is the sandbox's alone, so the memory's ceiling is the sandbox's memory limit, and
 * a module that fails takes no other session with it.
 */
export interface ModuleSlot {
  readonly module: QuickJSWASMModule;
  readonly memory: CappedMemory;
  /** The sandbox living here, if any. */
  tenant: ModuleTenant | undefined;
  /** Sandboxes this module has served. */
  served: number;
  /** Not to be reused: dropped (and collected) once its sandbox has ended. */
  retired: boolean;
  crashed: boolean;
  /** `memory.buffer.byteLength` when the module was ready: a reused module must not have grown far past it. */
  readonly baseBytes: number;
}

export interface ModulePoolOptions {
  /**
   * The compiled QuickJS WASM. Required on Cloudflare Workers (import the `.wasm` statically);
   * elsewhere it is compiled once from the variant package when absent.
   */
  wasmModule?: WebAssembly.Module | (() => Promise<WebAssembly.Module | undefined>);
  /**
   * Sandboxes one module serves, one after the other, before it is replaced (default
   * 100 000): a backstop, since a module whose memory grew or whose sandbox failed is never
   * reused anyway.
   */
  sandboxesPerModule?: number;
  /**
   * Bytes a module's memory may have grown past its starting size and still be reused
   * (default 4 MiB). WASM memory never shrinks: what a session left free inside it is room
   * the next session could use beyond its own limit, so a module grown further is let go.
   */
  moduleReuseSlackBytes?: number;
  /** Idle modules kept ready for the next sandboxes (default 2; 0 on runtimes that are not servers). */
  spareModules?: number;
  /**
   * Largest QuickJS stack granted, whatever a session asks. The engine's native recursion
   * (deeply nested JSON, parser nesting) uses the host thread's own stack beyond what QuickJS
   * counts: 64 KiB is safe on a main thread with Node's default stack; a worker with a larger
   * `stackSizeMb` can grant the SPEC's 256 KiB.
   */
  maxStackBytes?: number;
}

/**
 * Hands out QuickJS modules, one per sandbox. A module is instantiated from the WASM compiled
 * once (≈ 2 ms), its memory filled up to its initial size (so that everything its sandbox
 * allocates grows the memory, where the ceiling sees it), and reused by the next sandbox once
 * its sandbox ended cleanly and left its memory small. A module whose sandbox hit the memory
 * ceiling, failed or could not be freed is dropped whole: its memory goes with it.
 */
export class ModulePool {
  /** The compiled WASM (null: the variant package loads its own). */
  private wasm: WebAssembly.Module | null | undefined;
  private wasmLoading: Promise<WebAssembly.Module | null> | undefined;
  private readonly free: ModuleSlot[] = [];
  private readonly all = new Set<ModuleSlot>();
  private readonly perModule: number;
  private readonly slack: number;
  /** Idle modules kept ready (see `spareModules`). */
  readonly spares: number;
  private refilling = false;
  private closed = false;
  readonly maxStackBytes: number;
  modulesCreated = 0;
  /** Where contexts of this engine build keep their interrupt counter (found on the first module). */
  interruptCounter: InterruptCounter | undefined;
  private counterProbed = false;

  constructor(private readonly options: ModulePoolOptions = {}) {
    this.perModule = options.sandboxesPerModule ?? 100_000;
    this.slack = options.moduleReuseSlackBytes ?? 4 * 1024 * 1024;
    this.spares = Math.max(0, Math.floor(options.spareModules ?? (isServerRuntime() ? 2 : 0)));
    this.maxStackBytes = options.maxStackBytes ?? 64 * 1024;
  }

  /**
   * Frees ended sandboxes whose disposal was put off (see `disposeWhenIdle` in disposal.ts), so
   * that their modules can serve again: set by the executor.
   */
  reclaim: (() => void) | undefined;

  /** A module for a new sandbox: synchronous when an idle one is ready. */
  acquire(): ModuleSlot | Promise<ModuleSlot> {
    return this.acquireReady() ?? this.load();
  }

  /** An idle module if one is ready, without loading one. */
  acquireReady(): ModuleSlot | undefined {
    if (this.free.length === 0) this.reclaim?.();
    const slot = this.free.pop();
    this.refill();
    return slot;
  }

  /** Loads idle modules ahead of the first sandboxes: `count` of them (default one). */
  async warm(count = 1): Promise<void> {
    while (this.free.length < Math.min(count, MAX_IDLE_MODULES) && !this.closed) this.free.push(await this.load());
    this.refill();
  }

  /** A sandbox takes the module (it was acquired for it). */
  bind(slot: ModuleSlot, tenant: ModuleTenant): void {
    slot.tenant = tenant;
    slot.served++;
    if (slot.served >= this.perModule) slot.retired = true;
  }

  /**
   * The sandbox living in `slot` ended and freed what it held (or could not: then `clean` is
   * false). A clean, small module goes back to the idle list; any other is dropped.
   */
  release(slot: ModuleSlot, clean: boolean): void {
    slot.tenant = undefined;
    slot.memory.onRefused = undefined;
    const reusable =
      clean &&
      !this.closed &&
      !slot.retired &&
      !slot.crashed &&
      !slot.memory.refused &&
      slot.memory.buffer.byteLength <= slot.baseBytes + this.slack &&
      this.free.length < MAX_IDLE_MODULES;
    if (reusable) {
      // Nothing may grow an idle module.
      slot.memory.allow(0);
      this.free.push(slot);
    } else this.drop(slot);
  }

  /** The module aborted: its sandbox ends with SANDBOX_CRASHED. */
  crash(slot: ModuleSlot, reason: string): void {
    if (slot.crashed) return;
    slot.crashed = true;
    slot.retired = true;
    const tenant = slot.tenant;
    slot.tenant = undefined;
    tenant?.crash(reason);
    this.drop(slot);
  }

  /** Bytes of WASM memory held by every module of this pool, idle ones included. */
  heapBytes(): number {
    let total = 0;
    for (const slot of this.all) total += slot.memory.buffer.byteLength;
    return total;
  }

  /** Modules alive (serving a sandbox or idle). */
  get modulesAlive(): number {
    return this.all.size;
  }

  /** The memories of the modules serving a sandbox, for tests that damage one from outside. */
  busyMemoriesForTest(): WebAssembly.Memory[] {
    return [...this.all].filter((slot) => slot.tenant !== undefined).map((slot) => slot.memory);
  }

  /** Drops the idle modules; those serving a sandbox go when it ends. */
  close(): void {
    this.closed = true;
    for (const slot of this.free.splice(0)) this.drop(slot);
  }

  private drop(slot: ModuleSlot): void {
    slot.retired = true;
    this.all.delete(slot);
    const at = this.free.indexOf(slot);
    if (at !== -1) this.free.splice(at, 1);
  }

  /** Tops the idle list up to `spareModules`, one module at a time, off the caller's path. */
  private refill(): void {
    if (this.refilling || this.closed || this.free.length >= this.spares) return;
    this.refilling = true;
    void this.load()
      .then(
        (slot) => {
          if (this.closed || this.free.length >= MAX_IDLE_MODULES) this.drop(slot);
          else this.free.push(slot);
        },
        () => undefined,
      )
      .finally(() => {
        this.refilling = false;
        if (this.free.length < this.spares && !this.closed) queueRefill(() => this.refill());
      });
  }

  private async load(): Promise<ModuleSlot> {
    if (this.wasm === undefined) this.wasm = await (this.wasmLoading ??= this.resolveWasm());
    const memory = new CappedMemory(INITIAL_PAGES);
    const module = await newQuickJSWASMModuleFromVariant(
      newVariant(releaseSyncVariant, {
        ...(this.wasm ? { wasmModule: this.wasm } : {}),
        wasmMemory: memory,
        // The engine's abort message goes to the sandbox's failure, not to the host's stderr.
        emscriptenModule: { printErr: () => undefined } as Parameters<typeof newVariant>[1]['emscriptenModule'],
      }),
    );
    if (!this.counterProbed) {
      this.counterProbed = true;
      const probe = module.newContext();
      try {
        this.interruptCounter = findInterruptCounter(probe, memory);
      } finally {
        probe.dispose();
      }
    }
    fillInitialMemory(module, memory);
    const slot: ModuleSlot = {
      module,
      memory,
      tenant: undefined,
      served: 0,
      retired: false,
      crashed: false,
      baseBytes: memory.buffer.byteLength,
    };
    this.all.add(slot);
    this.modulesCreated++;
    return slot;
  }

  private async resolveWasm(): Promise<WebAssembly.Module | null> {
    const source = this.options.wasmModule ?? compileOnServer;
    return (typeof source === 'function' ? await source() : source) ?? null;
  }
}

/** Idle modules kept at most (≈ 270 KiB of resident memory each). */
const MAX_IDLE_MODULES = 16;

/** The memory the module declares as its minimum (16 MiB); it cannot start smaller. */
const INITIAL_PAGES = 256;

/**
 * Allocates, and never frees, the room left in the module's initial memory, with the
 * memory's ceiling at its current size. Those blocks are never written (only the allocator's
 * few header words per block), so they cost address space, not resident memory. What the
 * sandbox allocates afterwards has to grow the memory, and the ceiling then counts all of it.
 */
function fillInitialMemory(module: QuickJSWASMModule, memory: CappedMemory): void {
  const emscripten = (module as unknown as { module?: { _malloc?: (n: number) => number } }).module;
  const malloc = emscripten?._malloc;
  if (typeof malloc !== 'function') return;
  memory.allow(0);
  for (let size = 8 * 1024 * 1024; size >= 4096; size >>= 1) {
    // Bounded: the initial memory holds at most 16 MiB / size such blocks.
    for (let n = 0; n < 4096 && malloc(size) !== 0; n++);
  }
  memory.allow(0);
}

/**
 * On Node and Bun, compiles the WASM once so that a new module costs an instantiation
 * (≈ 2 ms) instead of a compile. The platform file is imported by a computed specifier so
 * that bundlers for other runtimes leave it out.
 */
async function compileOnServer(): Promise<WebAssembly.Module | undefined> {
  if (!isServerRuntime()) return undefined;
  try {
    const specifier = './wasm.node.js';
    const mod = (await import(/* @vite-ignore */ specifier)) as { compileQuickJSWasm(): Promise<WebAssembly.Module> };
    return await mod.compileQuickJSWasm();
  } catch {
    return undefined;
  }
}

function queueRefill(fn: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(fn);
  else setTimeout(fn, 0);
}
