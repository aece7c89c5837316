import type { ToolSettlement } from '../sandbox/types.js';
import type { CallerIdentity } from '../tools/types.js';
import type { BrokerLimits } from './limits.js';
import type { ToolResultInput } from './types.js';

/**
 * The entries of a durable session's journal, as they are stored (JSON). Release 0.1 wrote
 * them with one-letter kinds and fields (`{ k: 'r', c, s }`); `readJournalEntries` reads both
 * forms, and only the named form is written.
 */

/** The first journal entry of a durable session: what it takes to run it again. */
export interface JournalSpec {
  kind: 'spec';
  code: string;
  context: Record<string, unknown>;
  limits: BrokerLimits;
  identity: CallerIdentity;
  basePath: string;
  seed: number;
  createdAt: number;
}

/** A tool outcome as the guest got it (`settlement.at`: the clock it moved the guest to). */
export interface JournalResult {
  kind: 'result';
  callId: string;
  settlement: ToolSettlement;
}

/** A timer firing: the guest's timer `timer` ran its callback with the clock moved to `at`. */
export interface JournalTimer {
  kind: 'timer';
  timer: number;
  at: number;
}

/** Written when the journal outgrew its bounds: from there on the session cannot be resumed. */
export interface JournalStop {
  kind: 'stop';
}

/**
 * A client's answer that a process other than the owner took (claimed) and sent on to the
 * owner: written by that process before it answers the client, so that the answer survives
 * the owner dying before it journaled it. A resuming process applies the answers it finds
 * here that no `result` entry answered.
 */
export interface JournalMail {
  kind: 'mailed-result';
  callId: string;
  input: ToolResultInput;
}

/**
 * A call that needed approval was approved: its handler may run. Not an input of the guest
 * (it gets the handler's outcome, a `result` entry); a re-run that reaches the call runs the
 * handler without asking again. A rejection is journaled as the call's outcome (a `result`
 * entry with TOOL_APPROVAL_DENIED).
 */
export interface JournalApproval {
  kind: 'approved';
  callId: string;
  /** When it was approved (epoch ms): how long the call waited, for a resumed session's deadline. */
  at: number;
}

/**
 * A decision on an approval that a process other than the owner took (claimed) and sent on
 * to the owner: written before that process answers, like `JournalMail` for tool results.
 */
export interface JournalDecision {
  kind: 'mailed-decision';
  callId: string;
  approve: boolean;
  reason?: string;
}

/** Something the guest got from outside, in the order it got them. */
export type JournalInput = JournalResult | JournalTimer;
export type JournalEntry = JournalSpec | JournalInput | JournalStop | JournalMail | JournalApproval | JournalDecision;

const KINDS: ReadonlySet<string> = new Set<JournalEntry['kind']>(['spec', 'result', 'timer', 'stop', 'mailed-result', 'approved', 'mailed-decision']);

type Stored = Record<string, unknown>;

/**
 * The entries of a journal read back from the store, in the named form: entries of release
 * 0.1 (one-letter kinds and fields) are translated; anything else unknown is left out (it is
 * no input of the guest).
 */
export function readJournalEntries(stored: readonly unknown[]): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const raw of stored) {
    if (!raw || typeof raw !== 'object') continue;
    const entry = raw as Stored;
    if (typeof entry.kind === 'string') {
      if (KINDS.has(entry.kind)) out.push(entry as unknown as JournalEntry);
      continue;
    }
    const old = fromOneLetterForm(entry);
    if (old) out.push(old);
  }
  return out;
}

/** An entry as release 0.1 wrote it: `k` the kind, `c` the callId, `s` the settlement, `t` the timer. */
function fromOneLetterForm(e: Stored): JournalEntry | undefined {
  switch (e.k) {
    case 'spec': {
      const { k: _k, ...spec } = e;
      return { kind: 'spec', ...spec } as unknown as JournalSpec;
    }
    case 'r':
      return { kind: 'result', callId: e.c as string, settlement: e.s as ToolSettlement };
    case 't':
      return { kind: 'timer', timer: e.t as number, at: e.at as number };
    case 'x':
      return { kind: 'stop' };
    case 'm':
      return { kind: 'mailed-result', callId: e.c as string, input: e.input as ToolResultInput };
    case 'a':
      return { kind: 'approved', callId: e.c as string, at: e.at as number };
    case 'd': {
      const decision: JournalDecision = { kind: 'mailed-decision', callId: e.c as string, approve: e.approve === true };
      if (typeof e.reason === 'string') decision.reason = e.reason;
      return decision;
    }
    default:
      return undefined;
  }
}
