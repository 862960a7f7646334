import { z } from 'zod';
import type { NormalizedEvent } from '../../model/index.js';
import { redactEventValue } from '../../common/redact.js';
import { trimEvent } from '../evidence.js';
import type { Option } from '../rule.js';
import { SeenMemory, firstSeenShape, restoreSeen, type FirstSeenOptions as SeenOptions, type SeenEvidence, type SeenValues } from './first-seen.js';
import { fn, number, type EventField } from './schema.js';
import { UNCHANGED, ruleSubscriptions, type KeyState, type KindDefinition, type KindLogic } from './types.js';

/** The firstSeen kind's options: how "never seen" is judged (as for a sequence step), and what else its alerts say. */
export interface FirstSeenOptions<Ev> extends Omit<SeenOptions<Ev>, 'value'> {
  /**
   * The value that must not be new: a field, or a function of the event giving one value or
   * several (each judged on its own; the event is new when any of them is).
   */
  value: EventField | ((event: Ev) => string | readonly string[] | undefined);
  /**
   * Count the key's events, up to this many: an alert says how many came before it
   * (`eventsBefore`) and whether they were fewer than this (`quiet`): a key hardly used before.
   */
  quietBelow?: Option<number>;
  /** Events that count as new whatever the key has seen, learning or not: acts worth an alert every time (suppression aside). */
  alwaysNew?: (event: Ev) => boolean;
}

/** What a firstSeen alert's evidence holds besides the rule's own. */
export interface FirstSeenEvidence extends SeenEvidence {
  /** The field judged ('custom' for a function). */
  field: string;
  /** The new value (the first of them), redacted as event texts are (a "new secret" rule must not leak it). */
  value: string;
  /** Every new value of the event, when the rule's `value` gives several. */
  newValues?: string[];
  /** With `quietBelow`: the key's events before this one (counted up to `quietBelow`). */
  eventsBefore?: number;
  /** With `quietBelow`: fewer than that many events came before. */
  quiet?: boolean;
}

export interface FirstSeenState extends KeyState {
  f?: SeenValues;
  /** Events counted so far (with `quietBelow`; counting stops there, so a busy key is not rewritten for it). */
  c?: number;
}

const firstSeenKindSchema = z.strictObject({
  ...firstSeenShape,
  quietBelow: number(1, { integer: true, max: 1_000_000 }).optional(),
  alwaysNew: fn<(e: NormalizedEvent) => boolean>('(event) => boolean: events that are new whatever the key has seen').optional(),
});
type FirstSeenSettings = z.output<typeof firstSeenKindSchema>;

const NONE: readonly string[] = [];

/**
 * firstSeen: a value never seen for this key within the horizon, once the key's learning period
 * is over. Late events are applied: they refresh what the key knows and, if their value is new,
 * alert like any other.
 */
function firstSeenLogic(memory: SeenMemory, settings: FirstSeenSettings): KindLogic<FirstSeenState> {
  const valueName = settings.value.name;
  const { quietBelow, alwaysNew } = settings;
  // A function may give several values; the shared reader is typed for one.
  const read = memory.read as (e: NormalizedEvent) => string | readonly string[] | undefined;
  return {
    apply(st, e, key, env) {
      const got = read(e);
      const values = got === undefined ? NONE : typeof got === 'string' ? [got] : got;
      if (!values.length) return st.f === undefined ? false : UNCHANGED;
      const watchedSince = env.watchedSince?.(e);
      const always = alwaysNew?.(e) === true;
      let fresh: string[] | undefined;
      let changed = false;
      for (const value of values) {
        const judged = memory.observe(st.f, value, e.time, watchedSince, env);
        st.f = judged.seen;
        if (judged.changed) changed = true;
        if (judged.held) env.heldWhileLearning?.();
        if (judged.isNew || always) (fresh ??= []).push(value);
      }
      const before = st.c ?? 0;
      if (quietBelow !== undefined && before < quietBelow) {
        st.c = before + 1;
        changed = true;
      }
      if (fresh) {
        const seen = st.f!;
        const newValues = fresh;
        const raised = env.raise(st, e.time, () => {
          const ev = trimEvent(e);
          const evidence: FirstSeenEvidence = {
            field: valueName,
            value: redactEventValue(valueName, newValues[0]),
            ...memory.evidence(seen, watchedSince, values.length),
          };
          if (typeof got !== 'string') evidence.newValues = newValues.map((v) => redactEventValue(valueName, v));
          if (quietBelow !== undefined) {
            evidence.eventsBefore = before;
            evidence.quiet = before < quietBelow;
          }
          return { key, trigger: ev, events: [ev], firstTime: e.time, lastTime: e.time, count: 1, window: `${e.time}|${e.time}|${e.id}`, evidence };
        });
        // An alert (and its suppression start) is always written.
        if (raised) changed = true;
      }
      return changed ? true : UNCHANGED;
    },
    prune(st, watermark) {
      if (st.f && !memory.prune(st.f, watermark)) st.f = undefined;
      // A key forgotten starts counting again with the rest of what it learns.
      if (st.f === undefined) st.c = undefined;
      return st.f === undefined;
    },
    restore(st) {
      restoreSeen(st.f);
    },
    learning: (st, watermark, watchedSince) => st.f !== undefined && memory.stillLearning(st.f, watermark, watchedSince),
  };
}

export const firstSeen: KindDefinition<'firstSeen', FirstSeenSettings> = {
  name: 'firstSeen',
  optionsSchema: firstSeenKindSchema,
  compile: (settings, rule) => {
    const memory = new SeenMemory(settings);
    return { logic: firstSeenLogic(memory, settings), subscriptions: ruleSubscriptions(rule), learning: memory.period() };
  },
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
\`learning: '0s'\` to alert from the first event. A value new to a key still learning is counted as
held back while learning (each one, before suppression). Evidence: \`field\`, \`value\` (redacted as event
texts are), \`knownValues\` (values the key knows besides the event's), \`learningSince\`,
\`learning\`, \`learningFrom\`, \`horizon\`.

\`\`\`ts
value: (e) => [\`network \${net(e)}\`, \`model \${e.details.model}\`], // several facts, each judged on its own
quietBelow: tunable(20, 'Fewer events than this before: quiet'),    // evidence eventsBefore, quiet
alwaysNew: (e) => e.operation.endsWith('/DELETE'),                  // these alert every time
\`\`\`
A \`value\` function may give **several values**: each is judged and learned on its own in the
key's memory, and an event with any new one raises one alert (\`newValues\` lists them, \`value\`
is the first). \`quietBelow\` counts the key's events up to that many (the count stops there, so
it costs nothing on a busy key, and restarts when the key is forgotten): evidence \`eventsBefore\`
and \`quiet\` (fewer came before) say whether the key was hardly used, e.g. for \`severityOf\`.
\`alwaysNew\` names events that count as new whatever the key has seen and while it is still
learning — acts worth an alert every time (suppression aside) in a rule whose other acts are
worth one the first time; their values are learned as usual.`,
};
