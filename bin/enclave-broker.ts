#!/usr/bin/env node
import { runCli } from '../adapters/cli.js';

runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
}).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`enclave-broker: ${String((err as Error)?.message ?? err).split('\n')[0]}\n`);
    process.exitCode = 1;
  },
);
