import { InvalidRecordError, type SourceNormalizer } from '../types.js';

// Placeholder until the activity normalizer lands: claims nothing, so its records count as skipped.
export const activitySource: SourceNormalizer = {
  source: 'activity',
  streamCategories: [],
  tables: [],
  normalize() {
    throw new InvalidRecordError('activity normalizer not implemented');
  },
};
