// wrk, pinned to a core, against POST /execute: { rps, requests, p50, p99 (ms), non2xx, errors }.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** True when `command` runs here. */
export async function available(command, args = ['--version']) {
  try {
    await run(command, args);
    return true;
  } catch (err) {
    // wrk --version prints its banner and exits 1.
    return err.code !== 'ENOENT' && err.code !== 127;
  }
}

let script;
function luaScript(body) {
  if (!script) {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-wrk-'));
    script = join(dir, 'post.lua');
    writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`);
  }
  return script;
}

const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);

/** Parses wrk's report (run with --latency). */
export function parseWrk(text) {
  const latency = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps, requests, p50: latency(50), p99: latency(99), non2xx, errors };
}

/** Runs wrk -t1 -c`connections` for `seconds` on core `cpu` against `url`/execute. */
export async function wrk(url, { seconds, connections = 10, cpu = '1', body = '{"code":"return 1 + 2"}' }) {
  const args = ['-c', cpu, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', luaScript(body), `${url}/execute`];
  const { stdout } = await run('taskset', args, { maxBuffer: 1 << 20 });
  const result = parseWrk(stdout);
  if (!Number.isFinite(result.rps)) throw new Error(`could not read wrk's report:\n${stdout}`);
  return result;
}
