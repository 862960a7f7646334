import { InvalidRecordError, type SourceNormalizer } from '../types.js';

// Placeholder until the storage normalizer lands: claims nothing, so its records count as skipped.
export const storageSource: SourceNormalizer = {
  source: 'storage',
  streamCategories: [],
  tables: [],
  normalize() {
    throw new InvalidRecordError('storage normalizer not implemented');
  },
};
