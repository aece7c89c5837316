import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import type { LogLevel } from '../protocol/events.js';
import type { GuestJson } from './guest-json.js';
import { FORMATTER_SOURCE } from './guest-source.js';
import type { SandboxFailure, SandboxLimits, SandboxListener } from './types.js';
import { utf8Length } from '../util/bytes.js';

/** The `console` methods and what each writes: 0 stdout, else a log event at `LEVELS[kind]`. */
const WRITERS: readonly [string, number][] = [
  ['log', 0],
  ['dir', 0],
  ['debug', 1],
  ['trace', 1],
  ['info', 2],
  ['warn', 3],
  ['error', 4],
];
const LEVELS: readonly LogLevel[] = ['debug', 'debug', 'info', 'warn', 'error'];
/** Stdout is buffered and sent in chunks of about this many characters (or before any other event). */
const STDOUT_CHUNK = 64 * 1024;

/** What the console needs of the sandbox it runs in, read when the guest writes. */
export interface ConsoleHost {
  limits(): SandboxLimits;
  listener(): SandboxListener;
  /** Output is dropped: the guest was stopped, or the session's outcome is known. */
  quiet(): boolean;
  /** The output went past its limit: the guest must stop with `failure`. */
  stop(failure: SandboxFailure): void;
}

/**
 * The guest's `console`: `log` and `dir` write stdout (buffered), the others log events.
 * Plain strings and numbers are joined on the host; anything else is formatted by a guest
 * function (guest-source.ts), so no guest value is read on the host. Output counts against
 * the session's `maxStdoutBytes`.
 */
export class GuestConsole {
  /** The frozen console object, built on first read (see `object`). */
  private built: QuickJSHandle | undefined;
  private formatter: QuickJSHandle | undefined;
  private bytes = 0;
  private stdout = '';

  constructor(
    private readonly ctx: QuickJSContext,
    private readonly json: GuestJson,
    private readonly host: ConsoleHost,
  ) {}

  /**
   * The console object, a new handle to the same frozen object on every read. Built on the
   * first: seven functions and a frozen object cost more than a short session's whole run,
   * and most scripts never log.
   */
  object(): QuickJSHandle {
    this.built ??= this.build();
    return this.built.dup();
  }

  /** Sends the stdout buffered so far. */
  flush(): void {
    if (!this.stdout) return;
    const chunk = this.stdout;
    this.stdout = '';
    this.host.listener().onStdout(chunk);
  }

  dispose(): void {
    this.formatter?.dispose();
    this.built?.dispose();
  }

  private build(): QuickJSHandle {
    const ctx = this.ctx;
    const consoleObject = ctx.newObject();
    // Built while guest code runs: an interrupt or the memory limit may stop it half-way, and
    // then no handle may outlive the call.
    try {
      for (const [name, kind] of WRITERS) {
        const fn = ctx.newFunction(name, (...args) => this.write(kind, args));
        try {
          ctx.defineProp(consoleObject, name, { value: fn, configurable: false, enumerable: true });
        } finally {
          fn.dispose();
        }
      }
      this.json.freeze(consoleObject);
      return consoleObject;
    } catch (err) {
      consoleObject.dispose();
      throw err;
    }
  }

  private write(kind: number, args: QuickJSHandle[]): void {
    if (this.host.quiet()) return;
    const text = this.format(args);
    const line = kind === 0 ? `${text}\n` : text;
    this.bytes += utf8Length(line);
    const max = this.host.limits().maxStdoutBytes;
    if (this.bytes > max) {
      this.host.stop({ code: 'STDOUT_LIMIT', message: `console output exceeded ${max} bytes` });
      return;
    }
    if (kind === 0) {
      this.stdout += line;
      if (this.stdout.length >= STDOUT_CHUNK) this.flush();
      return;
    }
    this.flush();
    this.host.listener().onLog(LEVELS[kind] ?? 'info', text);
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
}
