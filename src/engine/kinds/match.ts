import { trimEvent } from '../evidence.js';
import { UNCHANGED, type KindLogic } from './types.js';

/** match: every event that passes the rule's filter is an alert (suppression aside). Keeps no state of its own. */
export function matchLogic(): KindLogic {
  return {
    apply(state, e, key, env) {
      // Held back by suppression: nothing changed (raising sets the suppression's start).
      const raised = env.raise(state, e.time, () => {
        const ev = trimEvent(e);
        return {
          key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1,
          window: `${e.time}|${e.time}|${e.id}`,
          evidence: { operation: e.operation, result: e.result },
        };
      });
      return raised ? false : UNCHANGED;
    },
    prune: () => true,
  };
}
