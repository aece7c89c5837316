/**
 * Guest-side JavaScript that the sandbox evaluates on demand. A session starts with no guest
 * bootstrap at all — its globals are host functions — because QuickJS parses source slowly
 * (≈ 0.2 ms per KB here): these pieces are parsed only by the sessions that need them.
 * Written without template literals so they can live in String.raw blocks.
 *
 * Hardening decisions:
 * - The bridge path (tool calls, timers, results) runs on the host with `JSON.parse` and
 *   `JSON.stringify` handles captured before the agent's code runs, so an agent that patches
 *   prototypes or globals only breaks its own code. The console formatter is evaluated later
 *   and may be garbled by such patching, but the text handed to the host is always a string.
 * - `eval` and `Function` stay. They compile code in the guest's own realm with the same
 *   globals, limits and interrupt as the agent's code, so they reach nothing the agent could
 *   not already write directly (and agents do use `new Function`).
 * - `FinalizationRegistry` and `WeakRef` are removed. Their callbacks run at the collector's
 *   whim, which makes a run non-deterministic (deterministic replay needs them gone). They
 *   could never run after a session ended anyway: guest jobs only run while the host drives
 *   the runtime, and an ended runtime is never driven again.
 * - Error texts crossing to the host are clipped.
 */

/** Freezes the `context` object deeply (evaluated only for a non-empty context). */
export const DEEP_FREEZE_SOURCE = String.raw`(function deepFreeze(o) {
  Object.freeze(o);
  for (var k in o) { var v = o[k]; if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) deepFreeze(v); }
  return o;
})`;

/**
 * Node-like `console.log` formatting (`%s %d %i %f %j %o %O %c`, objects inspected to depth 2),
 * evaluated in a session only the first time it logs something other than plain strings and
 * numbers: parsing it costs more than the rest of a short session.
 */
export const FORMATTER_SOURCE = String.raw`(function () {
  'use strict';
  var JSONstringify = JSON.stringify;
  var ownKeys = Reflect.ownKeys, getPrototypeOf = Object.getPrototypeOf;
  var fnToString = Function.prototype.toString, isArray = Array.isArray;
  var ErrorCtor = Error, MapCtor = Map, SetCtor = Set, DateCtor = Date, RegExpCtor = RegExp;
  var dateToISO = Date.prototype.toISOString, regexpToString = RegExp.prototype.toString;
  var mapEntries = Map.prototype.entries, setValues = Set.prototype.values;
  var mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size').get;
  var setSize = Object.getOwnPropertyDescriptor(Set.prototype, 'size').get;
  var objectProto = Object.prototype, getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
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
      else if (proto !== objectProto && proto && proto.constructor && typeof proto.constructor.name === 'string' && proto.constructor.name) prefix = proto.constructor.name + ' ';
      var keys = ownKeys(v);
      for (var j = 0; j < keys.length; j++) {
        var k = keys[j], d = getOwnPropertyDescriptor(v, k);
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
  return function () { return format(arguments); };
})()`;
