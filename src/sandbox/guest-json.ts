import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import { classifyGuestError, type GuestErrorInfo } from './errors.js';
import { DEEP_FREEZE_SOURCE } from './guest-source.js';
import { borrow, type BorrowedValue, type OwnedValue, type RawOps, type RawResult } from './raw.js';
import { readThrownValue } from './thrown-value.js';
import type { SandboxFailure, SandboxLimits } from './types.js';
import { ValueScope } from './value-scope.js';
import { utf8Length } from '../util/bytes.js';

/** How a session ends: its failure, or the JSON text of its result (absent for `undefined`). */
export type Outcome = SandboxFailure | { ok: true; resultJson?: string };

/** What the guest's `JSON.stringify` made of a value: its text, or the error it threw. */
export type Stringified = { text: string; error?: undefined } | { error: QuickJSHandle };

/**
 * Marshalling: values cross the guest boundary as JSON text only, turned into values by the
 * guest's own `JSON.parse` and into text by its own `JSON.stringify`, both captured before
 * any guest code ran (the guest may replace the globals). No host object reaches the guest,
 * and no guest getter, `toJSON` or proxy runs on the host.
 */
export class GuestJson {
  private constructor(
    private readonly ctx: QuickJSContext,
    private readonly raw: RawOps,
    private readonly parseFn: QuickJSHandle,
    /** The guest's `JSON.stringify` (also what reads thrown values, thrown-value.ts). */
    readonly stringifyFn: QuickJSHandle,
    /** The guest's `Object.freeze`. */
    private readonly freezeFn: QuickJSHandle,
  ) {}

  /** Captures `JSON.parse`, `JSON.stringify` and `Object.freeze` from a context no guest code ran in. */
  static capture(ctx: QuickJSContext, raw: RawOps): GuestJson {
    const global = borrow(ctx.global);
    const json = raw.getProp(global, 'JSON');
    const parse = raw.handle(raw.getProp(json, 'parse'));
    const stringify = raw.handle(raw.getProp(json, 'stringify'));
    raw.free(json);
    const freeze = raw.handle(raw.getPropOf(global, 'Object', 'freeze'));
    return new GuestJson(ctx, raw, parse, stringify, freeze);
  }

  /** `JSON.parse(json)` in the guest: the value (or the thrown one) is the caller's. */
  parse(json: string): RawResult {
    const text = this.raw.newString(json);
    const parsed = this.raw.call(borrow(this.parseFn), text);
    this.raw.free(text);
    return parsed;
  }

  /**
   * `JSON.stringify(value)` in the guest (getters and `toJSON` run there, never here): JSON
   * text, or `"undefined"` for a value JSON leaves out (no JSON text reads so).
   */
  stringify(value: BorrowedValue): Stringified {
    const raw = this.raw;
    const json = raw.call(borrow(this.stringifyFn), value);
    if (json.error !== undefined) return { error: raw.handle(json.error) };
    const text = raw.getString(json.value);
    raw.free(json.value);
    return { text };
  }

  /** `Object.freeze(handle)`. */
  freeze(handle: QuickJSHandle): void {
    const ctx = this.ctx;
    ctx.unwrapResult(ctx.callFunction(this.freezeFn, ctx.undefined, handle)).dispose();
  }

  /** What the guest told about a value it threw (see thrown-value.ts). */
  readError(handle: QuickJSHandle): GuestErrorInfo {
    return readThrownValue(this.ctx, this.raw, handle, this.stringifyFn);
  }

  /** An error for a raw call that threw in set-up (an interrupt, out of memory); frees the thrown value. */
  rawFailure(thrown: OwnedValue): Error {
    const handle = this.raw.handle(thrown);
    try {
      const info = this.readError(handle);
      return new Error(`${info.name ?? 'Error'}: ${info.message}`);
    } finally {
      handle.dispose();
    }
  }

  /**
   * Defines the frozen `context` global from its JSON. Through raw engine calls: with
   * quickjs-emscripten's handles this was a twentieth of a short session.
   */
  installContext(json: string): void {
    const raw = this.raw;
    const ctx = this.ctx;
    ValueScope.run(raw, (scope) => {
      const parsed = this.parse(json);
      // The host checked the JSON: a parse failure here is the memory limit or an interrupt.
      if (parsed.error !== undefined) throw this.rawFailure(parsed.error);
      const value = scope.own(parsed.value);
      // A nested context is frozen all the way down by a guest function parsed for it.
      const nested = json.includes('{', 1) || json.includes('[', 1);
      const freeze = nested ? scope.manage(ctx.unwrapResult(ctx.evalCode(DEEP_FREEZE_SOURCE, 'enclave:guest'))) : this.freezeFn;
      const frozen = raw.call(borrow(freeze), value);
      if (frozen.error !== undefined) throw this.rawFailure(frozen.error);
      raw.free(frozen.value);
      raw.defineProp(borrow(ctx.global), 'context', { value, configurable: false, enumerable: false });
    });
  }

  /** The session's outcome for the value the agent's function returned. */
  result(value: QuickJSHandle, limits: SandboxLimits): Outcome {
    const json = this.stringify(borrow(value));
    if (json.error !== undefined) {
      const info = this.readError(json.error);
      json.error.dispose();
      const failure = classifyGuestError(info, 'run');
      if (failure.code !== 'RUNTIME_ERROR') return failure;
      return { code: 'INVALID_RESULT', message: `the result is not JSON-representable: ${info.message}` };
    }
    const { text } = json;
    if (text === 'undefined') {
      const type = this.ctx.typeof(value);
      if (type === 'undefined') return { ok: true };
      return { code: 'INVALID_RESULT', message: `the result is not JSON-representable: a result of type ${type}` };
    }
    if (utf8Length(text) > limits.maxResultBytes && limits.resultOverflow !== 'truncate') {
      return { code: 'RESULT_TOO_LARGE', message: `the result exceeds ${limits.maxResultBytes} bytes` };
    }
    return { ok: true, resultJson: text };
  }

  dispose(): void {
    this.parseFn.dispose();
    this.stringifyFn.dispose();
    this.freezeFn.dispose();
  }
}
