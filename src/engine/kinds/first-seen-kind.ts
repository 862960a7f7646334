import { redactEventValue } from '../../common/redact.js';
import { trimEvent } from '../evidence.js';
import { SeenMemory, firstSeenSchema, restoreSeen, type FirstSeenOptions, type SeenEvidence, type SeenValues } from './first-seen.js';
import { UNCHANGED, ruleSubscriptions, type KeyState, type KindDefinition, type KindLogic } from './types.js';

export type { FirstSeenOptions };

/** What a firstSeen alert's evidence holds besides the rule's own. */
export interface FirstSeenEvidence extends SeenEvidence {
  /** The field judged ('custom' for a function). */
  field: string;
  /** The new value, redacted as event texts are (a "new secret" rule must not leak it). */
  value: string;
}

export interface FirstSeenState extends KeyState {
  f?: SeenValues;
}

/**
 * firstSeen: a value never seen for this key within the horizon, once the key's learning period
 * is over. Late events are applied: they refresh what the key knows and, if their value is new,
 * alert like any other.
 */
function firstSeenLogic(memory: SeenMemory, valueName: string): KindLogic<FirstSeenState> {
  return {
    apply(st, e, key, env) {
      const value = memory.read(e);
      if (value === undefined) return st.f === undefined ? false : UNCHANGED;
      const watchedSince = env.watchedSince?.(e);
      const { seen, isNew, changed } = memory.observe(st.f, value, e.time, watchedSince, env);
      st.f = seen;
      if (isNew) {
        env.raise(st, e.time, () => {
          const ev = trimEvent(e);
          const evidence: FirstSeenEvidence = { field: valueName, value: redactEventValue(valueName, value), ...memory.evidence(seen, watchedSince) };
          return { key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1, window: `${e.time}|${e.time}|${e.id}`, evidence };
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

export const firstSeen: KindDefinition<'firstSeen', import('zod').output<typeof firstSeenSchema>> = {
  name: 'firstSeen',
  optionsSchema: firstSeenSchema,
  compile: (settings, rule) => ({ logic: firstSeenLogic(new SeenMemory(settings), settings.value.name), subscriptions: ruleSubscriptions(rule) }),
  scaffold: `  kind: 'firstSeen',
  value: 'ip', // TODO: the value that must not be new (a field or a function of the event)
  horizon: tunable('30d', 'How long a value stays known after it was last seen'),
  learning: tunable('7d', 'Nothing is new until the key has been watched this long'),`,
  doc: `### firstSeen — a value never seen for this key

\`\`\`ts
kind: 'firstSeen', value: 'ip', horizon: tunable('30d', '…'), learning: tunable('7d', '…'),
maxValues: 500,           // optional: values remembered per key, least recently seen dropped first
learningFrom: 'principal', // optional: what the learning period is measured against ('principal' or 'key')
\`\`\`
Alerts when \`value\` (a field or a function of the event) has not been seen for the key within
\`horizon\`, once the learning period is over. **Learning follows the principal** by default
(\`learningFrom: 'principal'\`): nothing is new until \`learning\` has passed since Warden first saw
the event's principal on any source (for an event without a principal, since the partition's first
event), so an identity watched for weeks alerts on its first act of a kind, while one seen for the
first time an hour ago does not alert on everything it does. A principal silent for 30 days is
forgotten and learns again. \`learningFrom: 'key'\` measures it from the key's first event with a
value instead (per-key learning: for keys that are not a principal's, or when the rule means "this
key has not done this before"). A value expires \`horizon\` after it was last seen (at most
horizon/720 later: a value seen again and again has its last-seen time moved on at most once per
horizon/720 — an hour for 30 days — so a busy key is not rewritten at every event); when all of a
key's values have expired, the key is forgotten (with per-key learning it learns again). Use
\`learning: '0s'\` to alert from the first event. Evidence: \`field\`, \`value\` (redacted as event
texts are), \`knownValues\`, \`learningSince\`, \`learning\`, \`learningFrom\`, \`horizon\`.`,
};
