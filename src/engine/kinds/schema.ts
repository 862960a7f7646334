import { z } from 'zod';
import { SOURCES, type NormalizedEvent, type Source } from '../../model/index.js';
import { parseDuration } from '../duration.js';

/**
 * The pieces kinds build their options schemas from. Each refuses a bad value with a message that
 * says what to write; the field is the issue's path (`steps.write.firstSeen.horizon`).
 */

/** A duration ('90s', '5m', '1h', '7d') as milliseconds. */
export const duration = z.any().transform((v: unknown, ctx) => {
  const ms = parseDuration(v);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration: use a whole number and a unit, e.g. '90s', '5m', '1h', '7d'` });
  return z.NEVER;
});

/** A learning period: a duration, or '0s' for none (alert from the first event). */
export const learning = z.any().transform((v: unknown, ctx) => {
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: "give a learning period, e.g. '7d' (use '0s' for none)" });
    return z.NEVER;
  }
  if (typeof v === 'string' && /^0(ms|s|m|h|d)$/.test(v.trim())) return 0;
  const ms = parseDuration(v);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration: use e.g. '1d', '7d' ('0s' for none)` });
  return z.NEVER;
});

/** A number from `min` (up to `max`), whole when `integer`. */
export function number(min: number, opts: { integer?: boolean; max?: number } = {}) {
  return z.any().transform((v: unknown, ctx) => {
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && (opts.max === undefined || v <= opts.max) && (!opts.integer || Number.isInteger(v)))
      return v;
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(v)} is not valid: give ${opts.integer ? 'a whole number' : 'a number'} ≥ ${min}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ''}`,
    });
    return z.NEVER;
  });
}

/** A function the rule supplies (`usage` says its shape). */
export function fn<F>(usage: string) {
  return z.custom<F>((v) => typeof v === 'function', { message: `give a function ${usage}` });
}

export const EVENT_FIELDS = [
  'ip',
  'appId',
  'resourceId',
  'resourceType',
  'subscriptionId',
  'tenantId',
  'operation',
  'category',
  'result',
  'principalId',
  'principalName',
  'correlationId',
  'source',
] as const;
export type EventField = (typeof EVENT_FIELDS)[number];

/** A text value read from an event: a field name, or a function of the event. */
export type EventValue<Ev> = EventField | ((event: Ev) => string | undefined);

/** An EventValue as its reader, and the name evidence gives it (the field, or 'custom'). */
export interface ValueReader {
  read: (e: NormalizedEvent) => string | undefined;
  name: string;
}

export const eventValue = z.any().transform((v: unknown, ctx): ValueReader => {
  if (typeof v === 'function') return { read: v as ValueReader['read'], name: 'custom' };
  if (typeof v === 'string' && (EVENT_FIELDS as readonly string[]).includes(v)) {
    const field = v as EventField;
    return { read: (e) => e[field] || undefined, name: field };
  }
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not an event field: use one of ${EVENT_FIELDS.join(', ')}, or a function of the event` });
  return z.NEVER;
});

/** Upper-case operation names (events carry them upper-case). */
export const operations = z
  .array(z.any())
  .min(1, { message: 'give a non-empty array of operation names, or leave it out' })
  .superRefine((ops, ctx) => {
    ops.forEach((op: unknown, i) => {
      if (typeof op !== 'string' || !op) ctx.addIssue({ code: 'custom', path: [i], message: 'give an operation name' });
      else if (op !== op.toUpperCase()) ctx.addIssue({ code: 'custom', path: [i], message: `operations are matched upper-case: write '${op.toUpperCase()}'` });
    });
  }) as unknown as z.ZodType<string[]>;

/** Sources, at least one. */
export const sources = z
  .array(z.any())
  .min(1, { message: `give at least one of ${SOURCES.join(', ')}` })
  .superRefine((list, ctx) => {
    list.forEach((s: unknown, i) => {
      if (!SOURCES.includes(s as Source)) ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(s)} is not a source: ${SOURCES.join(', ')}` });
    });
  }) as unknown as z.ZodType<Source[]>;
