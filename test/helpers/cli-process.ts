import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('../../bin/enclave-broker.ts', import.meta.url));

/** Environment for the CLI without the variables it falls back to. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['PORT', 'HOST', 'REDIS_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'ENCLAVE_BROKER_TOKEN', 'LOG_LEVEL']) {
    delete env[k];
  }
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: 'pipe' });
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `enclave-broker` to its end (help, errors). */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface ServingCli {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `enclave-broker --port 0 --host 127.0.0.1 …` and resolves once its ready line is out. */
export async function serveCli(args: string[], env: Record<string, string> = {}): Promise<ServingCli> {
  const child = start(['--port', '0', '--host', '127.0.0.1', ...args], env);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('enclave-broker ready')) continue;
        child.stdout!.off('data', onData);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`the CLI exited with ${code}: ${out}`)));
  });
  const exited = once(child, 'exit');
  return {
    url,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
