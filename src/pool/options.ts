/** The reference's `RuntimePoolOptions`: how many worker threads run sandboxes. */
export interface RuntimePoolOptions {
  /** Workers started by `warm()` and always kept. */
  minSize: number;
  /** Upper bound on workers. */
  maxSize: number;
  /** Utilisation (0..1, see `WorkerPoolExecutor`) above which one worker is added per check. */
  scaleUpThreshold: number;
  /** Utilisation (0..1) below which one idle worker is removed per check. */
  scaleDownThreshold: number;
  /** Milliseconds between scaling checks. */
  scaleInterval: number;
}

/**
 * The QuickJS stack limit of sandboxes in the pool (and of first turns, which must see the
 * same): the pool gives each worker a 64 MB stack (worker-slot.node.ts), room for all of it.
 */
export const POOL_QUICKJS_STACK_BYTES = 256 * 1024;

export interface PoolLogger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

/** V8 heap limits of one worker thread (Node's `ResourceLimits`). */
export interface WorkerResourceLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
  codeRangeSizeMb?: number;
  stackSizeMb?: number;
}

export interface WorkerPoolOptions extends Partial<RuntimePoolOptions> {
  logger?: PoolLogger;
  /**
   * How long a sandbox may outlive its deadline, or an `abort()`, before its worker is
   * terminated (and replaced). Default 1000 ms.
   */
  terminateGraceMs?: number;
  /** Interval of worker heartbeats. Default 250 ms. */
  heartbeatMs?: number;
  /**
   * Events (tool calls, stdout chunks, log lines) one sandbox may send; past it the sandbox
   * ends with `OUTPUT_BUDGET_EXCEEDED`. Protects the main thread from a message flood.
   * Default 100 000.
   */
  maxEventsPerSandbox?: number;
  /**
   * Resident memory of the process past which new sessions are refused (503
   * TOO_MANY_SESSIONS) rather than started: each may take its memory limit. Default 75 % of
   * the machine's memory.
   */
  memoryBudgetBytes?: number;
  /** Sandboxes one QuickJS module hosts inside a worker before it is replaced (default 100 000). */
  sandboxesPerModule?: number;
  resourceLimits?: WorkerResourceLimits;
  /**
   * After a tool result goes to a worker, how long (ms, at most 5) the main thread and the
   * worker look for each other's next message in a loop before their event loops sleep (Node
   * only). A round trip then skips two thread wake-ups, but both threads hold a core while they
   * look: on a machine with cores to spare it makes back-to-back tool calls faster; on a
   * loaded one (or two cores) it takes the CPU the other thread needs and makes them several
   * times slower. Default 0: no looking.
   */
  handoffSpinMs?: number;
  /**
   * Milliseconds a new session's code may run on the main thread before a worker takes it
   * (from the start, nothing of the first try seen): code that ends in its first turn, without
   * a tool call or a timer, then never costs a thread hand-off. 0 sends every session to a
   * worker, the default: on a machine whose other cores are busy, the watchdog thread each turn
   * starts costs more than the hand-off it saves. Node only (see first-turn.ts for the bounds).
   */
  firstTurnMs?: number;
}

export interface ResolvedPoolOptions extends RuntimePoolOptions {
  terminateGraceMs: number;
  heartbeatMs: number;
  maxEventsPerSandbox: number;
  sandboxesPerModule: number | undefined;
  memoryBudgetBytes: number;
  resourceLimits: WorkerResourceLimits | undefined;
  handoffSpinMs: number;
  firstTurnMs: number;
}

/**
 * Defaults from the core count: one warm worker, up to one per core (at least two, so that
 * one spinning guest never holds every session), grow above 75 % utilisation, shrink below
 * 25 %, checked every second.
 */
export function defaultPoolOptions(cores: number): RuntimePoolOptions {
  return {
    minSize: 1,
    maxSize: Math.max(2, Math.floor(cores)),
    scaleUpThreshold: 0.75,
    scaleDownThreshold: 0.25,
    scaleInterval: 1000,
  };
}

/** Fills defaults and checks every option; throws a `TypeError` that names the bad one. */
export function resolvePoolOptions(options: WorkerPoolOptions, cores: number, totalMemory = Infinity): ResolvedPoolOptions {
  const d = defaultPoolOptions(cores);
  const minSize = options.minSize ?? Math.min(d.minSize, options.maxSize ?? d.minSize);
  const maxSize = options.maxSize ?? Math.max(d.maxSize, minSize);
  const resolved: ResolvedPoolOptions = {
    minSize,
    maxSize,
    scaleUpThreshold: options.scaleUpThreshold ?? d.scaleUpThreshold,
    scaleDownThreshold: options.scaleDownThreshold ?? Math.min(d.scaleDownThreshold, options.scaleUpThreshold ?? 1),
    scaleInterval: options.scaleInterval ?? d.scaleInterval,
    terminateGraceMs: options.terminateGraceMs ?? 1000,
    heartbeatMs: options.heartbeatMs ?? 250,
    maxEventsPerSandbox: options.maxEventsPerSandbox ?? 100_000,
    sandboxesPerModule: options.sandboxesPerModule,
    memoryBudgetBytes: options.memoryBudgetBytes ?? Math.floor(totalMemory * 0.75),
    resourceLimits: options.resourceLimits,
    handoffSpinMs: options.handoffSpinMs ?? 0,
    firstTurnMs: options.firstTurnMs ?? 0,
  };
  integer('minSize', resolved.minSize, 0);
  integer('maxSize', resolved.maxSize, 1);
  if (resolved.minSize > resolved.maxSize) {
    throw new TypeError(`runtimePool.minSize (${resolved.minSize}) must not exceed maxSize (${resolved.maxSize})`);
  }
  fraction('scaleUpThreshold', resolved.scaleUpThreshold);
  fraction('scaleDownThreshold', resolved.scaleDownThreshold);
  if (resolved.scaleDownThreshold > resolved.scaleUpThreshold) {
    throw new TypeError(`runtimePool.scaleDownThreshold (${resolved.scaleDownThreshold}) must not exceed scaleUpThreshold (${resolved.scaleUpThreshold})`);
  }
  positive('scaleInterval', resolved.scaleInterval);
  positive('terminateGraceMs', resolved.terminateGraceMs);
  positive('heartbeatMs', resolved.heartbeatMs);
  integer('maxEventsPerSandbox', resolved.maxEventsPerSandbox, 1);
  if (resolved.sandboxesPerModule !== undefined) integer('sandboxesPerModule', resolved.sandboxesPerModule, 1);
  if (typeof resolved.handoffSpinMs !== 'number' || !(resolved.handoffSpinMs >= 0 && resolved.handoffSpinMs <= 5)) {
    throw new TypeError(`runtimePool.handoffSpinMs must be a number of ms from 0 to 5, got ${String(options.handoffSpinMs)}`);
  }
  if (typeof resolved.firstTurnMs !== 'number' || !(resolved.firstTurnMs >= 0 && resolved.firstTurnMs <= 50)) {
    throw new TypeError(`runtimePool.firstTurnMs must be a number of ms from 0 to 50, got ${String(options.firstTurnMs)}`);
  }
  if (!(resolved.memoryBudgetBytes > 0))
    throw new TypeError(`runtimePool.memoryBudgetBytes must be a positive number of bytes, got ${String(options.memoryBudgetBytes)}`);
  return resolved;
}

function integer(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`runtimePool.${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

function fraction(name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new TypeError(`runtimePool.${name} must be a number between 0 and 1, got ${String(value)}`);
  }
}

function positive(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`runtimePool.${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
}
