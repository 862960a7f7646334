import { InvalidRecordError, type SourceNormalizer } from '../types.js';

// Placeholder until the signin normalizer lands: claims nothing, so its records count as skipped.
export const signinSource: SourceNormalizer = {
  source: 'signin',
  streamCategories: [],
  tables: [],
  normalize() {
    throw new InvalidRecordError('signin normalizer not implemented');
  },
};
