// Spawning servers and load generators in their own processes.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
export const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 1.5);
/**
 * Warm-up of a server's first measurement. V8 first runs the QuickJS WASM with its baseline
 * compiler and moves hot functions to its optimizing one on background threads during the
 * first seconds of load; those threads take CPU from the server on a 2-core machine, so a
 * short first warm-up measures the tier-up instead of the steady state.
 */
export const FIRST_WARMUP_SECONDS = Number(process.env.BENCH_FIRST_WARMUP ?? 6);
const warmed = new Set();
export const bunPath = `${root}node_modules/.bin/bun`;
const serverScript = fileURLToPath(new URL('./server.mjs', import.meta.url));
const loadScript = fileURLToPath(new URL('./load.mjs', import.meta.url));

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts bench/lib/server.mjs with `config` under Node (tsx) or Bun; resolves { url, pid, stop }.
 * `cpus` pins the server (all its threads) to those cores with taskset (e.g. '0').
 */
export async function startServer(config, runtime = 'node', { cpus } = {}) {
  let [cmd, args] =
    runtime === 'bun' ? [bunPath, [serverScript, JSON.stringify(config)]] : [process.execPath, ['--import', 'tsx', serverScript, JSON.stringify(config)]];
  if (cpus !== undefined) [cmd, args] = ['taskset', ['-c', String(cpus), cmd, ...args]];
  const child = spawn(cmd, args, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } });
  live.add(child);
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    });
    child.once('exit', (code) => reject(new Error(`server ${JSON.stringify(config)} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
    },
  };
}

/** Runs bench/lib/load.mjs with `config` and resolves its JSON result. */
export async function runLoad(config) {
  const child = spawn(process.execPath, [loadScript, JSON.stringify(config)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  live.delete(child);
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const result = JSON.parse(out.trim().split('\n').at(-1), (_k, v) => (v === 'Infinity' ? Infinity : v));
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`load on ${config.url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result;
}

/** A warm-up run, then a measured one. */
export async function measure(url, { connections, mode = 'cannon', seconds = SECONDS, headers, spin, graceMs }) {
  const base = { url: `${url}/execute`, connections, mode, headers, graceMs };
  const first = !warmed.has(url);
  warmed.add(url);
  await runLoad({ ...base, seconds: first ? Math.max(WARMUP_SECONDS, FIRST_WARMUP_SECONDS) : WARMUP_SECONDS });
  return runLoad({ ...base, seconds, spin });
}

/**
 * Runs a node script (tsx) in a child process; resolves its last stdout line as JSON. `cpus`
 * pins it (taskset); `cwd` runs it elsewhere, without tsx (a script of the packed project).
 */
export async function runNodeJson(script, args = [], nodeArgs = [], { cpus, cwd } = {}) {
  let [cmd, argv] = [process.execPath, [...nodeArgs, ...(cwd ? [] : ['--import', 'tsx']), script, ...args]];
  if (cpus !== undefined) [cmd, argv] = ['taskset', ['-c', String(cpus), cmd, ...argv]];
  const child = spawn(cmd, argv, { cwd: cwd ?? root, stdio: ['ignore', 'pipe', 'inherit'] });
  live.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  live.delete(child);
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1));
}

/** CPU seconds (user + system, every thread) process `pid` has used, from /proc (Linux). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size of process `pid` in bytes, from /proc (Linux). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

/** USER_HZ: 100 on Linux builds for x86 and arm. */
const CLOCK_TICKS = Number(process.env.BENCH_CLOCK_TICKS ?? 100);
