import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';

declare const valueBrand: unique symbol;
declare const ownedBrand: unique symbol;

/**
 * A JSValue pointer in the WASM heap that something else keeps alive (a library handle, the
 * engine's constants, an owned value lent for a call): read it, pass it on, never free it.
 */
export type BorrowedValue = number & { readonly [valueBrand]: true };

/**
 * A JSValue pointer its holder owns: freed exactly once (`RawOps.free`), or handed on exactly
 * once to whoever takes it over (`RawOps.handle`, a `ValueScope`, the engine as a host
 * function's answer). It may be lent wherever a borrowed value is taken.
 */
export type OwnedValue = BorrowedValue & { readonly [ownedBrand]: true };

/**
 * The value a library handle holds, lent to a raw call: the handle keeps it alive (and is
 * disposed by its own owner). The one crossing from the library's pointer type to ours.
 */
export function borrow(handle: QuickJSHandle): BorrowedValue {
  return handle.value as unknown as BorrowedValue;
}

interface Ffi {
  QTS_NewPromiseCapability(ctx: number, resolveFuncsOut: number): number;
  QTS_Call(ctx: number, fn: number, thisVal: number, argc: number, argv: number): number;
  QTS_ResolveException(ctx: number, maybeException: number): number;
  QTS_FreeValuePointer(ctx: number, value: number): void;
  QTS_FreeValuePointerRuntime(rt: number, value: number): void;
  QTS_NewString(ctx: number, cstr: number): number;
  QTS_GetString(ctx: number, value: number): number;
  QTS_FreeCString(ctx: number, cstr: number): void;
  QTS_GetUndefined(): number;
  QTS_PromiseState(ctx: number, value: number): number;
  QTS_ExecutePendingJob(rt: number, maxJobs: number, lastJobCtxOut: number): number;
  QTS_Typeof(ctx: number, value: number): number;
  QTS_GetFloat64(ctx: number, value: number): number;
  QTS_GetProp(ctx: number, obj: number, key: number): number;
  QTS_DefineProp(
    ctx: number,
    obj: number,
    key: number,
    value: number,
    get: number,
    set: number,
    configurable: boolean,
    enumerable: boolean,
    hasValue: boolean,
  ): void;
}

interface EmscriptenModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  lengthBytesUTF8(s: string): number;
  stringToUTF8(s: string, ptr: number, maxBytes: number): void;
  UTF8ToString(ptr: number): string;
}

interface Internals {
  ffi?: Partial<Ffi>;
  module?: Partial<EmscriptenModule>;
  ctx?: { value?: number };
  rt?: { value?: number };
  memory?: { heapValueHandle?: (ptr: number) => QuickJSHandle };
}

const FFI_NAMES: (keyof Ffi)[] = [
  'QTS_NewPromiseCapability',
  'QTS_Call',
  'QTS_ResolveException',
  'QTS_FreeValuePointer',
  'QTS_FreeValuePointerRuntime',
  'QTS_NewString',
  'QTS_GetString',
  'QTS_FreeCString',
  'QTS_GetUndefined',
  'QTS_PromiseState',
  'QTS_ExecutePendingJob',
  'QTS_Typeof',
  'QTS_GetFloat64',
  'QTS_GetProp',
  'QTS_DefineProp',
];

/**
 * Property names as C strings in a module's heap, written once per module and kept for its
 * lifetime (a handful of short names): a key then costs one engine call, not an allocation.
 */
const KEYS = new WeakMap<object, Map<string, number>>();

/** What `defineProp` defines: a data property (`value`) or an accessor (`get`, `set`). */
export interface RawDescriptor {
  value?: BorrowedValue;
  get?: BorrowedValue;
  set?: BorrowedValue;
  configurable: boolean;
  enumerable: boolean;
}

/** What a raw call answers: its result, or the value it threw; either is owned by the caller. */
export type RawResult = { value: OwnedValue; error?: undefined } | { error: OwnedValue };

/** Bytes of the scratch area: out-parameters and argument vectors of up to 4 values. */
const SCRATCH_BYTES = 32;

/**
 * The engine operations on a tool call's path and on a sandbox's set-up, straight on
 * quickjs-emscripten's FFI: raw value pointers instead of handle objects, and one scratch area
 * per sandbox for out-parameters and argument vectors instead of an allocation per call.
 * Everything else in the sandbox uses the library's handle API. `create` answers undefined
 * when the context does not have the expected shape (another library version).
 */
export class RawOps {
  private readonly scratch: number;
  private readonly undefinedPtr: number;

  private constructor(
    private readonly ffi: Ffi,
    private readonly module: EmscriptenModule,
    private readonly ctxPtr: number,
    private readonly rtPtr: number,
    private readonly toHandle: (ptr: number) => QuickJSHandle,
  ) {
    this.scratch = module._malloc(SCRATCH_BYTES);
    this.undefinedPtr = ffi.QTS_GetUndefined();
  }

  static create(context: QuickJSContext): RawOps | undefined {
    const internals = context as unknown as Internals;
    const ffi = internals.ffi;
    const module = internals.module;
    const ctxPtr = internals.ctx?.value;
    const rtPtr = internals.rt?.value;
    const heapValueHandle = internals.memory?.heapValueHandle;
    if (!ffi || !module || typeof ctxPtr !== 'number' || typeof rtPtr !== 'number' || typeof heapValueHandle !== 'function') return undefined;
    if (FFI_NAMES.some((name) => typeof ffi[name] !== 'function')) return undefined;
    if (!(module.HEAPU8 instanceof Uint8Array) || typeof module._malloc !== 'function' || typeof module._free !== 'function') return undefined;
    if (typeof module.lengthBytesUTF8 !== 'function' || typeof module.stringToUTF8 !== 'function' || typeof module.UTF8ToString !== 'function') {
      return undefined;
    }
    const memory = internals.memory!;
    return new RawOps(ffi as Ffi, module as EmscriptenModule, ctxPtr, rtPtr, (ptr) => heapValueHandle.call(memory, ptr));
  }

  private view: Int32Array | undefined;

  /** A view of the scratch area, made again when the WASM memory has grown since the last one. */
  private words(): Int32Array {
    const buffer = this.module.HEAPU8.buffer;
    if (this.view?.buffer !== buffer) this.view = new Int32Array(buffer, this.scratch, SCRATCH_BYTES / 4);
    return this.view;
  }

  /** A new promise and its resolving functions, each owned by the caller. */
  newPromise(): { promise: OwnedValue; resolve: OwnedValue; reject: OwnedValue } {
    const promise = this.ffi.QTS_NewPromiseCapability(this.ctxPtr, this.scratch) as OwnedValue;
    const words = this.words();
    return { promise, resolve: words[0]! as OwnedValue, reject: words[1]! as OwnedValue };
  }

  /** Calls `fn(...args)` with `this` undefined. The result (or the thrown value) is owned by the caller. */
  call(fn: BorrowedValue, ...args: BorrowedValue[]): RawResult {
    const words = this.words();
    for (let i = 0; i < args.length; i++) words[i] = args[i]!;
    const result = this.ffi.QTS_Call(this.ctxPtr, fn, this.undefinedPtr, args.length, this.scratch);
    const error = this.ffi.QTS_ResolveException(this.ctxPtr, result);
    if (error) {
      this.ffi.QTS_FreeValuePointer(this.ctxPtr, result);
      return { error: error as OwnedValue };
    }
    return { value: result as OwnedValue };
  }

  /** A guest string; owned by the caller. */
  newString(text: string): OwnedValue {
    const bytes = this.module.lengthBytesUTF8(text) + 1;
    const cstr = this.module._malloc(bytes);
    try {
      this.module.stringToUTF8(text, cstr, bytes);
      return this.ffi.QTS_NewString(this.ctxPtr, cstr) as OwnedValue;
    } finally {
      this.module._free(cstr);
    }
  }

  /** `obj[name]`, read by the engine (getters run); owned by the caller. */
  getProp(obj: BorrowedValue, name: string): OwnedValue {
    const key = this.key(name);
    try {
      return this.ffi.QTS_GetProp(this.ctxPtr, obj, key) as OwnedValue;
    } finally {
      this.free(key);
    }
  }

  /** `obj[holder][name]` (the holder is freed); owned by the caller. */
  getPropOf(obj: BorrowedValue, holder: string, name: string): OwnedValue {
    const between = this.getProp(obj, holder);
    try {
      return this.getProp(between, name);
    } finally {
      this.free(between);
    }
  }

  /** `Object.defineProperty(obj, name, descriptor)` done by the engine; nothing of the guest runs. */
  defineProp(obj: BorrowedValue, name: string, d: RawDescriptor): void {
    const key = this.key(name);
    const none = this.undefinedPtr;
    try {
      this.ffi.QTS_DefineProp(this.ctxPtr, obj, key, d.value ?? none, d.get ?? none, d.set ?? none, d.configurable, d.enumerable, d.value !== undefined);
    } finally {
      this.free(key);
    }
  }

  /** A guest string of a property name (see KEYS); owned by the caller. */
  private key(name: string): OwnedValue {
    let keys = KEYS.get(this.module);
    if (!keys) KEYS.set(this.module, (keys = new Map()));
    let cstr = keys.get(name);
    if (cstr === undefined) {
      const bytes = this.module.lengthBytesUTF8(name) + 1;
      cstr = this.module._malloc(bytes);
      this.module.stringToUTF8(name, cstr, bytes);
      keys.set(name, cstr);
    }
    return this.ffi.QTS_NewString(this.ctxPtr, cstr) as OwnedValue;
  }

  /** `String(value)` as the engine converts it (callers pass strings, or know what they pass). */
  getString(value: BorrowedValue): string {
    const cstr = this.ffi.QTS_GetString(this.ctxPtr, value);
    const text = this.module.UTF8ToString(cstr);
    this.ffi.QTS_FreeCString(this.ctxPtr, cstr);
    return text;
  }

  /** A guest number's value (callers know it is a number). */
  getNumber(value: BorrowedValue): number {
    return this.ffi.QTS_GetFloat64(this.ctxPtr, value);
  }

  typeOf(value: BorrowedValue): string {
    const cstr = this.ffi.QTS_Typeof(this.ctxPtr, value);
    const text = this.module.UTF8ToString(cstr);
    this.module._free(cstr);
    return text;
  }

  /** 0 pending, 1 fulfilled, 2 rejected; -1 for a value that is not a promise. */
  promiseState(value: BorrowedValue): number {
    return this.ffi.QTS_PromiseState(this.ctxPtr, value);
  }

  /**
   * Runs up to `max` pending jobs: how many ran, or the error a job threw (a handle owned by
   * the caller), as the library's `executePendingJobs` answers.
   */
  executePendingJobs(max: number): { value: number; error?: undefined } | { error: QuickJSHandle } {
    const words = this.words();
    words[0] = 0;
    const result = this.ffi.QTS_ExecutePendingJob(this.rtPtr, max, this.scratch) as OwnedValue;
    const jobCtx = this.words()[0]!;
    if (jobCtx === 0) {
      this.ffi.QTS_FreeValuePointerRuntime(this.rtPtr, result);
      return { value: 0 };
    }
    if (jobCtx === this.ctxPtr && this.typeOf(result) === 'number') {
      const count = this.ffi.QTS_GetFloat64(this.ctxPtr, result);
      this.free(result);
      return { value: count };
    }
    return { error: this.toHandle(result) };
  }

  /** Wraps a pointer the caller owns in a library handle (which then owns it). */
  handle(value: OwnedValue): QuickJSHandle {
    return this.toHandle(value);
  }

  free(value: OwnedValue): void {
    this.ffi.QTS_FreeValuePointer(this.ctxPtr, value);
  }

  dispose(): void {
    this.module._free(this.scratch);
  }
}
