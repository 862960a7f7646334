import { trimEvent } from '../evidence.js';
import type { KindLogic } from './types.js';

/** match: every event that passes the rule's filter is an alert (suppression aside). Keeps no state of its own. */
export function matchLogic(): KindLogic {
  return {
    apply(state, e, key, env) {
      env.raise(state, e.time, () => {
        const ev = trimEvent(e);
        return {
          key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1,
          window: `${e.time}|${e.time}|${e.id}`,
          evidence: { operation: e.operation, result: e.result },
        };
      });
      return false;
    },
    prune: () => true,
  };
}
