import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { SandboxHandle, SandboxListener } from '../sandbox/types.js';
import { Doorbell } from './doorbell.node.js';
import { InlineExecutor } from './inline.js';
import { BELL_TO_MAIN, BELL_TO_WORKER, MAX_NESTED, type FromWorker, type SandboxCommand, type SandboxEvent, type ToWorker } from './messages.js';
import { POOL_QUICKJS_STACK_BYTES } from './options.js';

/**
 * Entry of a pool worker thread: an `InlineExecutor` (so the same `ModulePool` and
 * `QuickJSSandbox` as on the main thread) behind a message relay.
 */
export interface WorkerBootData {
  /** Node: the channel of commands and events, readable synchronously (see `awaitHost`). */
  port?: MessagePort;
  /** One Int32 per sandbox slot; the main thread stores 1 in a slot to abort its sandbox. */
  flags: SharedArrayBuffer;
  /**
   * Three Float64s. [0]: while this worker runs guest code, when it started (`Date.now()`), 0
   * when it does not; read by the main thread to place new sandboxes elsewhere at once. [1]:
   * total ms spent looking for the main thread's answers (see `awaitHost`), which the pool does
   * not count as busy. [2]: when guest code last reached an interrupt poll (`Date.now()`): a
   * worker whose guest polls takes new work even while that guest runs (see `takeNestedWork`).
   */
  guest: SharedArrayBuffer;
  /** The hot channel's two doorbells (see doorbell.node.ts). */
  bells: SharedArrayBuffer;
  heartbeatMs: number;
  maxEventsPerSandbox: number;
  sandboxesPerModule?: number;
  /** How long `awaitHost` looks for the main thread's answer (ms; 0: not at all). */
  handoffSpinMs: number;
}

const BATCH_MAX = 256;

interface Running {
  handle: SandboxHandle | undefined;
  /** When its guest code last entered (`Date.now()`), 0 while it is not in it. */
  enteredAt: number;
  events: number;
  overBudget: boolean;
  /** Tool calls sent to the main thread and not settled yet. */
  calls: number;
}

const port = parentPort;
if (!port) throw new Error('worker.node.js must run in a worker thread');
const boot = workerData as WorkerBootData;
const flags = new Int32Array(boot.flags);
/** Commands come and events go here: the channel when the pool made one, else the parent port. */
const hot: MessagePort = boot.port ?? port;
/** Tool calls of all sandboxes here waiting for the main thread's answer. */
let awaitingHost = 0;
const guest = new Float64Array(boot.guest);
const bells = new Int32Array(boot.bells);
const toMain = new Doorbell(bells, BELL_TO_MAIN);
const fromMain = new Doorbell(bells, BELL_TO_WORKER);
/** Stand-in failure for a flag-abort; the main thread reports the abort's own failure. */
const FLAGGED = { code: 'CANCELLED', message: 'aborted by the host' };

let receiveWasm!: (wasm: WebAssembly.Module | undefined) => void;
const wasm = new Promise<WebAssembly.Module | undefined>((resolve) => (receiveWasm = resolve));
const executor = new InlineExecutor({
  // Without a module from the main thread the pool compiles its own (same as inline).
  wasmModule: async () => (await wasm) ?? (await import('../sandbox/wasm.node.js')).compileQuickJSWasm(),
  ...(boot.sandboxesPerModule ? { sandboxesPerModule: boot.sandboxesPerModule } : {}),
  maxStackBytes: POOL_QUICKJS_STACK_BYTES,
  // Sessions started inside a guest's interrupt need a module at once: loading one waits for
  // this thread's event loop (see takeNestedWork).
  spareModules: 8,
});
const running = new Map<number, Running>();

let batch: SandboxEvent[] = [];
let acks = 0;
let flushQueued = false;

function send(message: FromWorker): void {
  port!.postMessage(message);
}

function flush(): void {
  flushQueued = false;
  if (batch.length === 0 && acks === 0) return;
  const list = batch;
  batch = [];
  toMain.post(hot, { t: 'ev', list, acks } satisfies FromWorker);
  acks = 0;
}

function scheduleFlush(): void {
  if (flushQueued) return;
  flushQueued = true;
  queueMicrotask(flush);
}

/** A `start`, `settle` or `fire` has been handled: the guest gave the thread back. */
function ack(): void {
  acks++;
  scheduleFlush();
}

/** Queues an event; a guest running synchronously flushes every `BATCH_MAX` events. */
function emit(event: SandboxEvent): void {
  batch.push(event);
  if (batch.length >= BATCH_MAX) flush();
  else scheduleFlush();
}

/** Counts an event against the sandbox's budget; false once it is spent (the event is dropped). */
function spend(id: number): boolean {
  const r = running.get(id);
  if (!r || r.overBudget) return false;
  if (++r.events <= boot.maxEventsPerSandbox) return true;
  r.overBudget = true;
  r.handle?.abort(budgetFailure());
  return false;
}

function budgetFailure() {
  return {
    code: 'OUTPUT_BUDGET_EXCEEDED',
    message: `the sandbox sent more than ${boot.maxEventsPerSandbox} events`,
  };
}

function start(id: number, spec: Extract<SandboxCommand, { t: 'start' }>['spec'], slot: number): void {
  const record: Running = { handle: undefined, enteredAt: 0, events: 0, overBudget: false, calls: 0 };
  running.set(id, record);
  const listener: SandboxListener = {
    onToolCall: (callId, name, args) => {
      if (!spend(id)) return;
      record.calls++;
      awaitingHost++;
      emit({ id, k: 'call', callId, name, args });
    },
    onStdout: (chunk) => {
      if (spend(id)) emit({ id, k: 'out', chunk });
    },
    onLog: (level, message) => {
      if (spend(id)) emit({ id, k: 'log', level, message });
    },
    onDone: (outcome) => {
      running.delete(id);
      awaitingHost -= record.calls;
      record.calls = 0;
      emit({ id, k: 'done', outcome });
    },
    pollAbort: () => {
      yieldIfSpinning();
      const now = Date.now();
      guest[2] = now;
      // Only a guest that has held the thread a while gets work started inside its interrupt:
      // never one still being set up, nor a short one about to give the thread back.
      if (record.enteredAt > 0 && now - record.enteredAt >= NEST_AFTER_MS) takeNestedWork();
      if (record.overBudget) return budgetFailure();
      return slot >= 0 && Atomics.load(flags, slot) !== 0 ? FLAGGED : undefined;
    },
    onGuest: (inGuest) => {
      // Counted: sandboxes started inside another's interrupt (see takeNestedWork) enter and
      // leave the guest while the outer one is still in it.
      record.enteredAt = inGuest ? Date.now() : 0;
      if (inGuest) {
        const now = Date.now();
        if (entries.push(now) === 1) guest[0] = now;
        // A sandbox started inside a spinning one's interrupt runs at normal priority until it spins too.
        else if (isLowered()) restorePriority();
        return;
      }
      entries.pop();
      if (entries.length > 0) return;
      guest[0] = 0;
      if (isLowered()) restorePriority();
    },
  };
  if (spec.determinism) {
    listener.onTimerSet = (timer, ms) => {
      if (spend(id)) emit({ id, k: 'timer', timer, ms });
    };
    listener.onTimerCleared = (timer) => {
      if (spend(id)) emit({ id, k: 'timer', timer, ms: -1 });
    };
  }
  const handle = executor.start(spec, listener);
  if (running.get(id) === record) {
    record.handle = handle;
    if (record.overBudget) handle.abort(budgetFailure());
  }
}

function run(command: SandboxCommand): void {
  switch (command.t) {
    case 'start':
      start(command.id, command.spec, command.slot);
      ack();
      return;
    case 'settle': {
      const r = running.get(command.id);
      if (r && r.calls > 0) {
        r.calls--;
        awaitingHost--;
      }
      r?.handle?.settleTool(command.callId, command.settlement);
      ack();
      return;
    }
    case 'fire':
      running.get(command.id)?.handle?.fireTimer(command.timer, command.at);
      ack();
      return;
    case 'deadline':
      running.get(command.id)?.handle?.extendDeadline(command.ms);
      return;
    case 'abort': {
      const r = running.get(command.id);
      if (r?.handle) r.handle.abort(command.failure);
      return;
    }
  }
}

/** When each sandbox of this thread now inside guest code entered it, outermost first. */
const entries: number[] = [];
/** Guest code that has run this long holds the thread: commands are taken inside its interrupt. */
const NEST_AFTER_MS = 1;
/** Commands being handled inside a guest's interrupt (see `takeNestedWork`). */
let nested = 0;

/**
 * Called from the interrupt handler of guest code that holds this thread (about once a
 * millisecond): commands the main thread sent meanwhile — a new session, a tool result, a
 * cancel — are handled now, inside the interrupt, instead of after the running guest gives the
 * thread back. A new session thus starts within a millisecond or two even while every worker
 * runs a script that spins until its deadline; it runs in a QuickJS module of its own (one
 * module per sandbox), so nothing of the interrupted sandbox is touched. A tool result for a
 * sandbox that is itself on the stack waits in that sandbox until its guest returns. A session
 * started this way holds the one beneath it until it yields: the pool adds a worker when every
 * one runs guest code, so that later sessions go there.
 */
function takeNestedWork(): void {
  if (nested >= MAX_NESTED || hot === port) return;
  let list: SandboxCommand[] | undefined;
  if (queued.length === 0) {
    const received = fromMain.receive(hot);
    if (!received) return;
    const message = received.message as ToWorker;
    if (message.t !== 'cmds') return onMessage(message);
    list = message.list;
  }
  guest[3] = ++nested;
  try {
    runBatch(list ?? []);
  } finally {
    guest[3] = --nested;
  }
}

/**
 * Commands that arrived before this worker was ready: they run once it is (a session started
 * before would hold the thread, and the worker could not finish loading, nor say it is ready,
 * until that session gave it back).
 */
let early: SandboxCommand[] | undefined = [];

function onMessage(message: ToWorker): void {
  if (message.t === 'init') {
    receiveWasm(message.wasm);
    void executor.warm().then(() => {
      const tid = threadId();
      send({ t: 'ready', ...(tid ? { tid } : {}) });
      const waiting = early ?? [];
      early = undefined;
      if (waiting.length > 0) runBatch(waiting);
    });
    return;
  }
  if (message.t !== 'cmds') return;
  if (early) {
    early.push(...message.list);
    return;
  }
  runBatch(message.list);
  if (nested === 0) awaitHost();
}

/** Commands received and not handled yet, in order (a batch, or what is left of one). */
const queued: SandboxCommand[] = [];

function runBatch(list: SandboxCommand[]): void {
  queued.push(...list);
  // Commands may also be taken from this queue by a guest's interrupt (see takeNestedWork):
  // a session sent in the same batch as a spinning one starts inside its interrupt.
  for (let command = queued.shift(); command; command = queued.shift()) run(command);
  // What the batch led to goes back as one message, before any idle-time work of this thread
  // (disposing ended runtimes, preparing spare ones).
  flush();
}

/** Longest stretch `awaitHost` keeps this thread's event loop from turning (timers, heartbeats). */
const HOT_TURN_MS = 5;

/**
 * While guest code waits for tool results from the main thread, looks for them for up to
 * `handoffSpinMs` (a pool option, default 0: not at all) before this thread's event loop goes
 * to sleep: a tool call's round trip is shorter than the wake-up of a sleeping thread when
 * the main thread has a core of its own meanwhile. Runs only with a pending tool call, never
 * for idle or spinning sandboxes. Results that keep coming are taken for at most HOT_TURN_MS
 * in a row; then the event loop turns (timers, heartbeats) and delivers the next one itself.
 */
function awaitHost(): void {
  const spin = boot.handoffSpinMs;
  if (!(spin > 0) || hot === port || typeof receiveMessageOnPort !== 'function') return;
  const began = performance.now();
  const last = began + HOT_TURN_MS;
  let until = began + spin;
  let working = 0;
  while (awaitingHost > 0 && performance.now() < until) {
    const received = fromMain.receive(hot);
    if (!received) continue;
    const message = received.message as ToWorker;
    if (message.t !== 'cmds') {
      onMessage(message);
      continue;
    }
    const t0 = performance.now();
    runBatch(message.list);
    until = performance.now();
    working += until - t0;
    until = Math.min(until + spin, last);
  }
  guest[1] = guest[1]! + Math.max(0, performance.now() - began - working);
}

port.on('message', onMessage);
if (hot !== port) hot.on('message', onMessage);

// ---- priority of a thread held by guest code ---------------------------------------------

/** Guest code running this long without giving the thread back is treated as spinning. */
const SPIN_MS = 20;
/** Nice value of this thread while a guest spins: the main thread (HTTP, heartbeats) goes first. */
const SPIN_NICE = 19;
/** On Linux a thread's nice value is its own; elsewhere setpriority(0) would renice the process. */
const PER_THREAD_NICE = process.platform === 'linux';
/**
 * This thread runs at `SPIN_NICE`: `guest[4]` is 1. The main thread, when it sends this
 * worker a command, raises it back and clears the cell (see `WorkerSlot.wake`), so that a
 * command taken inside a spinning guest's interrupt is not left waiting for the CPU at the
 * lowest priority.
 */
const isLowered = () => guest[4] === 1;
let stuckLow = false;

/** This thread's id (Linux), so that the main thread can raise its priority. */
function threadId(): number | undefined {
  if (!PER_THREAD_NICE) return undefined;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Called from the interrupt handler (about every 10 000 instructions of guest code): a guest
 * that has held the thread for over `SPIN_MS` gets the lowest CPU priority, so that on a
 * machine with fewer cores than busy threads it takes only what the broker's own threads leave.
 */
function yieldIfSpinning(): void {
  if (isLowered() || stuckLow || !PER_THREAD_NICE) return;
  // The innermost sandbox is the one running.
  const since = entries[entries.length - 1] ?? 0;
  if (since === 0 || Date.now() - since < SPIN_MS) return;
  try {
    setPriority(0, SPIN_NICE);
    guest[4] = 1;
  } catch {
    stuckLow = true; // Not permitted here: nothing to undo later either.
  }
}

/**
 * Back to normal priority once the guest gave the thread back. Raising a priority needs a
 * privilege (CAP_SYS_NICE) many deployments lack: then this worker stays low, tells the pool,
 * and the pool moves new sessions elsewhere and replaces it once it is idle.
 */
function restorePriority(): void {
  guest[4] = 0;
  try {
    setPriority(0, 0);
  } catch {
    stuckLow = true;
    send({ t: 'low' });
  }
}

setInterval(() => send({ t: 'hb' }), boot.heartbeatMs);
