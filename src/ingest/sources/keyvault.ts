import { InvalidRecordError, type SourceNormalizer } from '../types.js';

// Placeholder until the keyvault normalizer lands: claims nothing, so its records count as skipped.
export const keyvaultSource: SourceNormalizer = {
  source: 'keyvault',
  streamCategories: [],
  tables: [],
  normalize() {
    throw new InvalidRecordError('keyvault normalizer not implemented');
  },
};
