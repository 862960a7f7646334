import { z } from 'zod';
import type { Result } from '../../model/index.js';
import { trimEvent } from '../evidence.js';
import { UNCHANGED, ruleSubscriptions, type KindDefinition, type KindLogic } from './types.js';

/** What a match alert's evidence holds besides the rule's own. */
export interface MatchEvidence {
  operation: string;
  result: Result;
}

/** A match rule has no options of its own. */
export type MatchOptions = Record<never, never>;

/** match: every event that passes the rule's filter is an alert (suppression aside). Keeps no state of its own. */
function matchLogic(): KindLogic {
  return {
    apply(state, e, key, env) {
      // Held back by suppression: nothing changed (raising sets the suppression's start).
      const raised = env.raise(state, e.time, () => {
        const ev = trimEvent(e);
        const evidence: MatchEvidence = { operation: e.operation, result: e.result };
        return { key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1, window: `${e.time}|${e.time}|${e.id}`, evidence };
      });
      return raised ? false : UNCHANGED;
    },
    prune: () => true,
  };
}

export const match: KindDefinition<'match', MatchOptions> = {
  name: 'match',
  optionsSchema: z.strictObject({}),
  compile: (_settings, rule) => ({ logic: matchLogic(), subscriptions: ruleSubscriptions(rule) }),
  scaffold: `  kind: 'match',`,
  doc: `### match — one event is enough

\`\`\`ts
kind: 'match'
\`\`\`
Each event that passes \`where\` is an alert (subject to \`suppress\`). Evidence: \`operation\`, \`result\`.`,
};
