/**
 * The guest-side runtime, evaluated in every fresh QuickJS context before the agent's code.
 * It receives the host's bridge functions as an argument and keeps them in this closure:
 * nothing of the bridge is reachable from a global. Only strings and numbers cross it.
 *
 * Output kinds for `out(kind, text)`: 0 stdout, 1 debug, 2 info, 3 warn, 4 error.
 * `done(status, json)`: 1 ok, 0 uncaught error, 2 syntax error, 3 invalid result.
 * Written without template literals so it can live in a String.raw block.
 *
 * Hardening decisions:
 * - The built-ins the bridge path relies on (Map methods, `Promise.prototype.then`, `call`,
 *   `JSON`) are captured before the agent's code runs and called uncurried, so an agent that
 *   patches prototypes only breaks its own code, never the bookkeeping of tool calls, timers
 *   or the result. The console formatter is not fully protected that way: patching it can
 *   garble the agent's own output, but the text handed to the host is always a string.
 * - `eval` and `Function` stay. They compile code in the guest's own realm with the same
 *   globals, limits and interrupt as the agent's code, so they reach nothing the agent could
 *   not already write directly (and agents do use `new Function`).
 * - `FinalizationRegistry` and `WeakRef` are removed. Their callbacks run at the collector's
 *   whim, which makes a run non-deterministic (deterministic replay needs them gone). They
 *   could never run after a session ended anyway: guest jobs only run while the host drives
 *   the runtime, and an ended runtime is never driven again.
 * - Error texts crossing to the host are clipped (see `clip`); the host clips again.
 */
export const GUEST_SOURCE = String.raw`(function (host) {
  'use strict';
  var hostCall = host.call, hostOut = host.out, hostTimer = host.timer, hostDone = host.done;
  var JSONparse = JSON.parse, JSONstringify = JSON.stringify;
  var freeze = Object.freeze, isFrozen = Object.isFrozen, ownKeys = Reflect.ownKeys;
  var defineProperty = Object.defineProperty, getPrototypeOf = Object.getPrototypeOf;
  var objToString = Object.prototype.toString, fnToString = Function.prototype.toString;
  var isArray = Array.isArray, PromiseCtor = Promise, ErrorCtor = Error, TypeErrorCtor = TypeError;
  var MapCtor = Map, SetCtor = Set, DateCtor = Date, RegExpCtor = RegExp;
  var dateToISO = Date.prototype.toISOString, regexpToString = RegExp.prototype.toString;
  var mapEntries = Map.prototype.entries, setValues = Set.prototype.values;
  var mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size').get;
  var setSize = Object.getOwnPropertyDescriptor(Set.prototype, 'size').get;
  // Uncurried built-ins for the bridge path: immune to the agent patching prototypes.
  var uncurry = Function.prototype.bind.bind(Function.prototype.call);
  var mapGet = uncurry(Map.prototype.get), mapSet = uncurry(Map.prototype.set);
  var mapDelete = uncurry(Map.prototype['delete']), mapCount = uncurry(mapSize);
  var promiseThen = uncurry(Promise.prototype.then), apply = Reflect.apply;
  var StringCtor = String, strSlice = uncurry(String.prototype.slice);
  var MAX_TEXT = 8192, MAX_STACK_TEXT = 16384;
  function clip(s, n) { return s.length > n ? strSlice(s, 0, n) + '... [truncated]' : s; }
  var pending = new MapCtor();
  var timers = new MapCtor();
  var nextTimer = 1;
  var MAX_TIMERS = 10000;

  function call(name, args) {
    if (typeof name !== 'string') return PromiseCtor.reject(new TypeErrorCtor('callTool: the tool name must be a string'));
    var json = '{}';
    if (args !== undefined && args !== null) {
      if (typeof args !== 'object' || isArray(args)) return PromiseCtor.reject(new TypeErrorCtor('callTool: args must be an object'));
      try { json = JSONstringify(args); } catch (e) {
        return PromiseCtor.reject(new TypeErrorCtor('callTool: args are not JSON-serializable: ' + safeMessage(e)));
      }
    }
    return new PromiseCtor(function (resolve, reject) {
      // The host may refuse the call (a name or arguments too large): that rejects.
      var id = hostCall(name, json);
      mapSet(pending, id, [resolve, reject]);
    });
  }

  function settle(id, ok, json) {
    var p = mapGet(pending, id);
    if (!p) return;
    mapDelete(pending, id);
    if (ok) { p[0](json === undefined ? undefined : JSONparse(json)); return; }
    var info = JSONparse(json);
    var err = new ErrorCtor(info.message);
    err.code = info.code;
    if (info.details !== undefined) err.details = info.details;
    p[1](err);
  }

  function setTimeout(fn, ms) {
    if (typeof fn !== 'function') throw new TypeErrorCtor('setTimeout: the callback must be a function');
    if (mapCount(timers) >= MAX_TIMERS) throw new ErrorCtor('setTimeout: too many pending timers');
    var args = [];
    for (var i = 2; i < arguments.length; i++) args[i - 2] = arguments[i];
    var delay = +ms;
    var id = nextTimer++;
    // The host counts timers too and throws past its own cap, before anything is recorded.
    hostTimer(1, id, delay > 0 ? delay : 0);
    mapSet(timers, id, [fn, args]);
    return id;
  }
  function clearTimeout(id) {
    if (mapDelete(timers, id)) hostTimer(0, id, 0);
  }
  function fire(id) {
    var t = mapGet(timers, id);
    if (!t) return;
    mapDelete(timers, id);
    apply(t[0], undefined, t[1]);
  }

  // ---- console: Node-like formatting -------------------------------------------------
  function safeMessage(e) {
    try { return String(e && typeof e === 'object' && 'message' in e ? e.message : e); } catch (_) { return 'unknown error'; }
  }
  function quote(s) {
    var q = s.indexOf("'") === -1 ? "'" : (s.indexOf('"') === -1 ? '"' : "'");
    var out = JSONstringify(s).slice(1, -1);
    if (q === "'") out = out.split('\\"').join('"').split("'").join("\\'");
    return q + out + q;
  }
  function keyText(k) {
    if (typeof k === 'symbol') return '[' + String(k) + ']';
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : quote(k);
  }
  function fnName(v) {
    var name = '';
    try { name = v.name; } catch (_) {}
    var src = '';
    try { src = fnToString.call(v); } catch (_) {}
    if (/^class[\s{]/.test(src)) return '[class ' + (name || '(anonymous)') + ']';
    return name ? '[Function: ' + name + ']' : '[Function (anonymous)]';
  }
  function inspect(v, depth, seen) {
    switch (typeof v) {
      case 'string': return depth === 0 ? v : quote(v);
      case 'number': return (v === 0 && 1 / v < 0) ? '-0' : String(v);
      case 'bigint': return String(v) + 'n';
      case 'boolean': return String(v);
      case 'undefined': return 'undefined';
      case 'symbol': return String(v);
      case 'function': return fnName(v);
    }
    if (v === null) return 'null';
    if (seen.indexOf(v) !== -1) return '[Circular]';
    if (v instanceof ErrorCtor) {
      try { return v.stack ? String(v.name) + ': ' + String(v.message) + '\n' + String(v.stack).replace(/\n$/, '') : String(v); } catch (_) { return '[Error]'; }
    }
    if (v instanceof DateCtor) { try { return dateToISO.call(v); } catch (_) { return 'Invalid Date'; } }
    if (v instanceof RegExpCtor) return regexpToString.call(v);
    if (depth > 2) return isArray(v) ? '[Array]' : '[Object]';
    seen.push(v);
    var parts = [], open, close, prefix = '';
    if (isArray(v)) {
      open = '['; close = ']';
      var n = v.length, shown = n > 100 ? 100 : n;
      for (var i = 0; i < shown; i++) parts.push(i in v ? inspect(v[i], depth + 1, seen) : '<empty>');
      if (n > shown) parts.push('... ' + (n - shown) + ' more items');
    } else if (v instanceof MapCtor) {
      open = '{'; close = '}'; prefix = 'Map(' + mapSize.call(v) + ') ';
      var it = mapEntries.call(v), r;
      while (!(r = it.next()).done) parts.push(inspect(r.value[0], depth + 1, seen) + ' => ' + inspect(r.value[1], depth + 1, seen));
    } else if (v instanceof SetCtor) {
      open = '{'; close = '}'; prefix = 'Set(' + setSize.call(v) + ') ';
      var it2 = setValues.call(v), r2;
      while (!(r2 = it2.next()).done) parts.push(inspect(r2.value, depth + 1, seen));
    } else {
      open = '{'; close = '}';
      var proto = getPrototypeOf(v);
      if (proto === null) prefix = '[Object: null prototype] ';
      else if (proto !== Object.prototype && proto && proto.constructor && typeof proto.constructor.name === 'string' && proto.constructor.name) prefix = proto.constructor.name + ' ';
      var keys = ownKeys(v);
      for (var j = 0; j < keys.length; j++) {
        var k = keys[j], d = Object.getOwnPropertyDescriptor(v, k);
        if (!d || (!d.enumerable && typeof k !== 'symbol')) continue;
        var shownValue = 'get' in d || 'set' in d ? (d.get ? (d.set ? '[Getter/Setter]' : '[Getter]') : '[Setter]') : inspect(d.value, depth + 1, seen);
        parts.push(keyText(k) + ': ' + shownValue);
      }
    }
    seen.pop();
    if (parts.length === 0) return prefix + open + close;
    var line = prefix + open + ' ' + parts.join(', ') + ' ' + close;
    if (line.length <= 72 && line.indexOf('\n') === -1) return line;
    var pad = '';
    for (var p = 0; p <= depth; p++) pad += '  ';
    var padClose = pad.slice(2);
    return prefix + open + '\n' + pad + parts.join(',\n' + pad) + '\n' + padClose + close;
  }
  function format(args) {
    var first = args[0], rest = 1, out = '';
    if (typeof first === 'string' && args.length > 1) {
      out = first.replace(/%[sdifjoOc%]/g, function (m) {
        if (m === '%%') return '%';
        if (rest >= args.length) return m;
        var a = args[rest++];
        switch (m) {
          case '%s': return typeof a === 'string' ? a : (typeof a === 'object' && a !== null ? inspect(a, 1, []) : inspect(a, 1, []));
          case '%d': case '%i': {
            if (typeof a === 'bigint') return String(a) + 'n';
            if (typeof a === 'symbol') return 'NaN';
            var num = m === '%i' ? parseInt(a) : Number(a);
            return String(num);
          }
          case '%f': return typeof a === 'symbol' ? 'NaN' : String(parseFloat(a));
          case '%j': try { return JSONstringify(a); } catch (_) { return '[Circular]'; }
          case '%c': return '';
          default: return inspect(a, 0 + 1, []);
        }
      });
    } else if (args.length > 0) {
      out = inspect(first, 0, []);
    }
    for (var i = rest; i < args.length; i++) out += ' ' + inspect(args[i], 0, []);
    return out;
  }
  function writer(kind) {
    return function () {
      var text;
      try { text = format(arguments); } catch (e) { text = '[unprintable: ' + safeMessage(e) + ']'; }
      // A patched built-in can make format() return anything: only a string goes out.
      if (typeof text !== 'string') text = '[unprintable]';
      hostOut(kind, text);
    };
  }
  var consoleObject = {
    log: writer(0), dir: writer(0), debug: writer(1), trace: writer(1),
    info: writer(2), warn: writer(3), error: writer(4)
  };

  function deepFreeze(v) {
    if (v === null || typeof v !== 'object' || isFrozen(v)) return v;
    freeze(v);
    var keys = ownKeys(v);
    for (var i = 0; i < keys.length; i++) deepFreeze(v[keys[i]]);
    return v;
  }
  function defineGlobal(name, value) {
    defineProperty(globalThis, name, { value: value, writable: false, enumerable: false, configurable: false });
  }

  function describe(e) {
    var info = { name: 'Error', message: '' };
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        info.name = clip(StringCtor(e.name), 256);
        info.message = clip(StringCtor(e.message), MAX_TEXT);
        var stack = e.stack;
        if (typeof stack === 'string') info.stack = clip(stack, MAX_STACK_TEXT);
        var code = e.code;
        if (typeof code === 'string') info.code = clip(code, 256);
      } else {
        info.name = 'Error';
        info.message = clip('Uncaught ' + inspect(e, 1, []), MAX_TEXT);
      }
    } catch (_) {
      info.message = 'an error that could not be described';
    }
    return JSONstringify(info);
  }

  function start(main) {
    var p;
    try { p = main(); } catch (e) { hostDone(0, describe(e)); return; }
    promiseThen(p, function (value) {
      if (value === undefined) { hostDone(1, undefined); return; }
      var json;
      try { json = JSONstringify(value); } catch (e) { hostDone(3, describe(e)); return; }
      if (json === undefined) { hostDone(3, describe(new TypeErrorCtor('a result of type ' + typeof value + ' is not JSON-representable'))); return; }
      hostDone(1, json);
    }, function (e) { hostDone(0, describe(e)); });
  }

  function install(contextJson) {
    delete globalThis.FinalizationRegistry;
    delete globalThis.WeakRef;
    defineGlobal('callTool', call);
    defineGlobal('console', freeze(consoleObject));
    defineGlobal('setTimeout', setTimeout);
    defineGlobal('clearTimeout', clearTimeout);
    defineGlobal('context', deepFreeze(JSONparse(contextJson)));
  }

  return { install: install, start: start, settle: settle, fire: fire };
})`;
