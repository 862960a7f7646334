import { redactEventValue } from '../../common/redact.js';
import { trimEvent } from '../evidence.js';
import { restoreSeen, type SeenMemory, type SeenValues } from './first-seen.js';
import { UNCHANGED, type KeyState, type KindLogic } from './types.js';

export interface FirstSeenState extends KeyState {
  f?: SeenValues;
}

/**
 * firstSeen: a value never seen for this key within the horizon, once the key's learning period
 * is over. Late events are applied: they refresh what the key knows and, if their value is new,
 * alert like any other.
 */
export function firstSeenLogic(memory: SeenMemory, valueName: string): KindLogic<FirstSeenState> {
  return {
    apply(st, e, key, env) {
      const value = memory.read(e);
      if (value === undefined) return st.f === undefined ? false : UNCHANGED;
      const { seen, isNew, changed } = memory.observe(st.f, value, e.time);
      st.f = seen;
      if (isNew) {
        env.raise(st, e.time, () => {
          const ev = trimEvent(e);
          return {
            key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1,
            window: `${e.time}|${e.time}|${e.id}`,
            evidence: { field: valueName, value: redactEventValue(valueName, value), ...memory.evidence(seen) },
          };
        });
      }
      // A new value is a change, so an alert (and its suppression start) is always written.
      return changed ? true : UNCHANGED;
    },
    prune(st, watermark) {
      if (st.f && !memory.prune(st.f, watermark)) st.f = undefined;
      return st.f === undefined;
    },
    restore(st) {
      restoreSeen(st.f);
    },
  };
}
