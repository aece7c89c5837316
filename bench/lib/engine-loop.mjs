// The bare engine anchor of B1: quickjs-emscripten on its own, in a loop of new runtime +
// new context + eval `1 + 2` + dispose (what one `return 1 + 2` needs of the engine at the
// least). Runs for `seconds` (first arg, default 8) after a 1 s warm-up and prints
// { cycles, usPerCycle (CPU), wallUsPerCycle }. Pin it like the servers: taskset -c 0 node …
import { newQuickJSWASMModuleFromVariant } from 'quickjs-emscripten-core';
import variant from '@jitl/quickjs-wasmfile-release-sync';

const seconds = Number(process.argv[2] ?? 8);
const engine = await newQuickJSWASMModuleFromVariant(variant);

function cycle() {
  const runtime = engine.newRuntime();
  runtime.setMaxStackSize(256 * 1024);
  const context = runtime.newContext();
  const result = context.evalCode('1 + 2');
  if (result.error) throw new Error('eval failed');
  if (context.getNumber(result.value) !== 3) throw new Error('wrong answer');
  result.value.dispose();
  context.dispose();
  runtime.dispose();
}

function loop(ms) {
  const end = performance.now() + ms;
  let cycles = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) cycle();
    cycles += 100;
  }
  return cycles;
}

loop(1000);
const c0 = process.cpuUsage();
const t0 = performance.now();
const cycles = loop(seconds * 1000);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(c0);
process.stdout.write(`${JSON.stringify({ cycles, usPerCycle: (cpu.user + cpu.system) / cycles, wallUsPerCycle: (wall * 1000) / cycles })}\n`);
