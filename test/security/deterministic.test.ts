import { InlineExecutor } from '../../src/pool/inline.js';
import { defineHostileCorpus } from './corpus.js';

// The corpus again as durable sessions run it: Date and Math.random replaced on first use,
// timers fired by the host (inline; the pool relays the same calls as messages).
defineHostileCorpus('InlineExecutor, deterministic', () => new InlineExecutor(), { deterministic: true });
