import type { SourceNormalizer } from '../types.js';
import { activitySource } from './activity.js';
import { signinSource } from './signin.js';
import { aiSource } from './ai.js';
import { keyvaultSource } from './keyvault.js';
import { storageSource } from './storage.js';
import { directorySource } from './directory.js';
import { graphSource } from './graph.js';

/** Every log source Warden normalizes, one module each. */
export const SOURCE_NORMALIZERS: readonly SourceNormalizer[] = [activitySource, signinSource, aiSource, keyvaultSource, storageSource, directorySource, graphSource];
