import { InvalidRecordError, type SourceNormalizer } from '../types.js';

// Placeholder until the ai normalizer lands: claims nothing, so its records count as skipped.
export const aiSource: SourceNormalizer = {
  source: 'ai',
  streamCategories: [],
  tables: [],
  normalize() {
    throw new InvalidRecordError('ai normalizer not implemented');
  },
};
