import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AlertSchema, NormalizedEventSchema } from '../../src/model/index.js';

const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

/** The field names in the first column of the table under `heading`, in order. */
function tableFields(heading: string): string[] {
  const section = doc.slice(doc.indexOf(heading));
  const table = section.slice(section.indexOf('\n|'), section.indexOf('\n\n', section.indexOf('\n|')));
  return table
    .split('\n')
    .slice(3)
    .flatMap((row) => [...row.split('|')[1].matchAll(/`(\w+)`/g)].map((m) => m[1]));
}

describe('docs/architecture.md names the contract fields as src/model does', () => {
  it('NormalizedEvent: every field, no other', () => {
    expect(tableFields('### NormalizedEvent')).toEqual(Object.keys(NormalizedEventSchema.shape));
  });

  it('Alert: every field, no other', () => {
    expect(tableFields('### Alert')).toEqual(Object.keys(AlertSchema.shape));
  });
});
