/**
 * The linear memory of one QuickJS WASM module, with a ceiling the host moves.
 *
 * quickjs-emscripten's builds count every block QuickJS allocates with a usable size of 0
 * (`js_def_malloc_usable_size` answers 0 under emscripten), so `setMemoryLimit` refuses one
 * allocation larger than the limit but never sees a total: a thousand 1 MB strings pass a
 * 64 MiB limit. The module imports its memory, though, and grows it through `grow()` whenever
 * its allocator runs out of room. A module that serves one sandbox at a time, with a memory
 * whose `grow()` refuses to pass a ceiling, bounds that sandbox's total exactly: the
 * allocator's request fails, `malloc` answers NULL, and QuickJS throws its out-of-memory error.
 *
 * The instance is a real `WebAssembly.Memory` (a subclass), so the module takes it as its
 * import on every runtime (V8 in Node, Bun's JavaScriptCore, workerd).
 */
export class CappedMemory extends WebAssembly.Memory {
  /** Largest `buffer.byteLength` a `grow()` may reach. */
  ceiling = Infinity;
  /**
   * The last `grow()` was refused. The module's allocator tries a few sizes in a row before it
   * gives up, so a refusal followed by a smaller grow that fits clears this: while it is set
   * on the host's side (in an interrupt, a host call, or after the guest returned), the
   * allocation failed for good.
   */
  refused = false;
  /**
   * When set, a refusal stays `refused` even if a smaller grow fits afterwards: any refusal
   * ends the sandbox (see `SandboxSpec.memoryCeilingBytes`). Set by each `limit()`.
   */
  private sticky = false;
  /** Called at each refusal (the sandbox makes its guest's next interrupt poll count). */
  onRefused: (() => void) | undefined;

  constructor(initialPages: number) {
    super({ initial: initialPages, maximum: MAX_PAGES });
  }

  override grow(delta: number): number {
    const bytes = this.buffer.byteLength + delta * PAGE;
    if (bytes > this.ceiling) {
      this.refused = true;
      this.onRefused?.();
      // The module's allocator catches it and answers NULL; one error object serves every
      // refusal (a new one would capture a stack each time, in a loop that may refuse often).
      throw REFUSED;
    }
    const previous = super.grow(delta);
    if (!this.sticky) this.refused = false;
    return previous;
  }

  /** Lets the memory grow by at most `bytes` more than it holds now. */
  allow(bytes: number): void {
    this.limit(this.buffer.byteLength + Math.max(0, bytes));
  }

  /**
   * Lets the memory grow up to `bytes` in all (never below what it holds now). `sticky`: the
   * first refusal stays (see the field).
   */
  limit(bytes: number, sticky = false): void {
    this.ceiling = Math.max(this.buffer.byteLength, bytes);
    this.refused = false;
    this.sticky = sticky;
  }
}

export const PAGE = 65536;
const REFUSED = new RangeError('WebAssembly.Memory.grow(): the sandbox memory ceiling was reached');
/** The ceiling the module was built with (2 GiB). */
const MAX_PAGES = 32768;
