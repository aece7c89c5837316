import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';

/** A QuickJS WASM module instance and the sandboxes living in it. */
export interface ModuleSlot {
  readonly module: QuickJSWASMModule;
  /** Sandboxes created in this module that have not ended yet. */
  readonly live: Set<{ crash(reason: string): void }>;
  created: number;
  /** No new sandboxes go here; the slot is dropped once `live` is empty. */
  retired: boolean;
  crashed: boolean;
}

export interface ModulePoolOptions {
  /**
   * The compiled QuickJS WASM. Required on Cloudflare Workers (import the `.wasm` statically);
   * elsewhere it is compiled once from the variant package when absent.
   */
  wasmModule?: WebAssembly.Module | (() => Promise<WebAssembly.Module | undefined>);
  /**
   * Sandboxes one module hosts before it is replaced (default 100 000). A module's memory and
   * state stay flat over many sandboxes, so this is only a backstop: replacing a module costs
   * its instantiation and the re-optimisation of the library code bound to it.
   */
  sandboxesPerModule?: number;
  /**
   * WASM memory a module may have grown to before it takes no new sandboxes (default 48 MiB),
   * unless its live sandboxes may need it (see `oversized`). WASM memory never shrinks: a
   * session that used tens of MiB leaves its module that large, so such a module is replaced
   * and let go once its last sandbox ends.
   */
  moduleHeapLimitBytes?: number;
  /**
   * Largest QuickJS stack granted, whatever a session asks. The engine's native recursion
   * (deeply nested JSON, parser nesting) uses the host thread's own stack beyond what QuickJS
   * counts: 64 KiB is safe on a main thread with Node's default stack; a worker with a larger
   * `stackSizeMb` can grant the SPEC's 256 KiB.
   */
  maxStackBytes?: number;
}

/**
 * Hands out QuickJS modules. Each sandbox gets its own runtime inside a shared module; a
 * module is retired once its memory grew far past what its live sandboxes use, after
 * `sandboxesPerModule` sandboxes, after a sandbox left it in a doubtful state, or when it
 * aborted — then every sandbox still in it is told it crashed.
 */
export class ModulePool {
  private current: ModuleSlot | undefined;
  private loading: Promise<ModuleSlot> | undefined;
  private variant: typeof releaseSyncVariant | undefined;
  private readonly perModule: number;
  private readonly heapLimit: number;
  readonly maxStackBytes: number;
  modulesCreated = 0;

  constructor(private readonly options: ModulePoolOptions = {}) {
    this.perModule = options.sandboxesPerModule ?? 100_000;
    this.heapLimit = options.moduleHeapLimitBytes ?? 48 * 1024 * 1024;
    this.maxStackBytes = options.maxStackBytes ?? 64 * 1024;
  }

  /** A module ready for a new sandbox (synchronous when one is warm). */
  acquire(): ModuleSlot | Promise<ModuleSlot> {
    const slot = this.current;
    if (slot && !slot.retired && !slot.crashed) return slot;
    return (this.loading ??= this.load().finally(() => (this.loading = undefined)));
  }

  /** Loads the first module ahead of the first sandbox. */
  async warm(): Promise<void> {
    await this.acquire();
  }

  /** Called by a sandbox when it ends. */
  release(slot: ModuleSlot, sandbox: { crash(reason: string): void }): void {
    slot.live.delete(sandbox);
  }

  retire(slot: ModuleSlot): void {
    slot.retired = true;
    if (this.current === slot) this.current = undefined;
  }

  /** The module aborted: every sandbox in it ends with SANDBOX_CRASHED. */
  crash(slot: ModuleSlot, reason: string): void {
    if (slot.crashed) return;
    slot.crashed = true;
    this.retire(slot);
    for (const sandbox of [...slot.live]) sandbox.crash(reason);
    slot.live.clear();
  }

  /**
   * Bytes of WASM memory held by the module that takes new sandboxes (0 before the first is
   * loaded). The memory of a WASM module grows and never shrinks: this is its high-water mark.
   */
  heapBytes(): number {
    return this.current ? moduleHeapBytes(this.current) : 0;
  }

  noteCreated(slot: ModuleSlot): void {
    slot.created++;
    if (slot.created >= this.perModule || this.oversized(slot)) this.retire(slot);
  }

  /**
   * Grown past the heap limit, and to more than twice what its live sandboxes plausibly use:
   * a high-water mark left by sessions that ended, not memory in use (a thousand sessions
   * waiting on tools need their module's memory).
   */
  private oversized(slot: ModuleSlot): boolean {
    const heap = moduleHeapBytes(slot);
    return heap > this.heapLimit && heap > 2 * slot.live.size * LIVE_SANDBOX_BYTES;
  }

  private async load(): Promise<ModuleSlot> {
    this.variant ??= await this.resolveVariant();
    const module = await newQuickJSWASMModuleFromVariant(this.variant);
    const slot: ModuleSlot = { module, live: new Set(), created: 0, retired: false, crashed: false };
    this.current = slot;
    this.modulesCreated++;
    return slot;
  }

  private async resolveVariant(): Promise<typeof releaseSyncVariant> {
    const source = this.options.wasmModule ?? compileOnServer;
    const wasmModule = typeof source === 'function' ? await source() : source;
    return wasmModule ? newVariant(releaseSyncVariant, { wasmModule }) : releaseSyncVariant;
  }
}

/** True for the error a WASM module throws when it aborted and can no longer be used. */
export function isWasmAbort(err: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /\bAborted\(|\bunreachable\b|memory access out of bounds/.test(message);
}

/**
 * On Node and Bun, compiles the WASM once so that replacing a module costs an instantiation
 * (≈ 1–6 ms) instead of a compile. The platform file is imported by a computed specifier so
 * that bundlers for other runtimes leave it out.
 */
async function compileOnServer(): Promise<WebAssembly.Module | undefined> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return undefined;
  try {
    const specifier = './wasm.node.js';
    const mod = (await import(/* @vite-ignore */ specifier)) as { compileQuickJSWasm(): Promise<WebAssembly.Module> };
    return await mod.compileQuickJSWasm();
  } catch {
    return undefined;
  }
}

/** WASM memory a live sandbox is taken to use at most when judging a module's size (see `oversized`). */
const LIVE_SANDBOX_BYTES = 256 * 1024;

function moduleHeapBytes(slot: ModuleSlot): number {
  const emscripten = (slot.module as unknown as { module?: { HEAPU8?: Uint8Array } }).module;
  return emscripten?.HEAPU8?.byteLength ?? 0;
}
