import { describe, expect, it } from 'vitest';
import { listCaptureFiles, readCaptures } from '../../src/ingest/files.js';
import { SOURCE_NORMALIZERS } from '../../src/ingest/sources/index.js';
import { EXTERNAL_CAPTURES } from '../support/external-captures.js';
import { mutateEveryField, seedsFrom } from '../support/field-mutation.js';

describe('public records with every field replaced by every wrong type', () => {
  it('normalize gives a valid event or InvalidRecordError, and ingestBody accounts for all of them', async () => {
    const { files } = await listCaptureFiles([EXTERNAL_CAPTURES]);
    const bodies: unknown[] = [];
    for await (const { body } of readCaptures(files)) bodies.push(body);
    const seeds = seedsFrom(bodies);
    // Every source but Graph activity, of which no public sample exists (its own fixtures are in the unit tier's seeds).
    expect(new Set(seeds.map((s) => s.normalizer.source))).toEqual(new Set(SOURCE_NORMALIZERS.map((n) => n.source).filter((s) => s !== 'graph')));
    const { failures, tried } = mutateEveryField(seeds);
    expect(failures).toEqual([]);
    expect(tried).toBeGreaterThan(1000);
  });
});
