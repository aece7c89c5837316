import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/multiproc-broker.ts', import.meta.url));

export interface BrokerProcess {
  url: string;
  instanceId: string;
  child: ChildProcess;
  /** Everything the process printed on stdout (its first line, then LOG_WARNINGS lines). */
  output(): string;
  /** The LOG_WARNINGS lines printed so far, parsed. */
  warnings(): LoggedLine[];
  /** SIGKILL: the process dies without closing anything. */
  kill(): Promise<void>;
  /** Graceful stop (closes stdin). */
  stop(): Promise<void>;
}

/** A warning or error the process logged (LOG_WARNINGS=1): its level, message and fields. */
export interface LoggedLine {
  level: string;
  msg: string;
  sessionId?: string;
  [field: string]: unknown;
}

/** Starts `test/fixtures/multiproc-broker.ts` in its own Node process with `env` (and Node flags). */
export async function startBrokerProcess(env: Record<string, string>, nodeArgs: string[] = []): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (out += d));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`broker process exited with ${code}`);
  });
  const listening = (async () => {
    while (!out.includes('\n')) await once(child.stdout!, 'data');
    return JSON.parse(out.split('\n')[0]!) as { port: number; instanceId: string };
  })();
  const { port, instanceId } = await Promise.race([listening, exited]);
  exited.catch(() => {});
  const gone = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => {}));
  return {
    url: `http://127.0.0.1:${port}`,
    instanceId,
    child,
    output: () => out,
    warnings: () =>
      out
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LoggedLine),
    async kill() {
      const done = gone();
      child.kill('SIGKILL');
      await done;
    },
    async stop() {
      const done = gone();
      child.stdin!.end();
      await done;
    },
  };
}
