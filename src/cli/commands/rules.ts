import { UsageError } from '../errors.js';
import type { Command } from '../io.js';

export const run: Command = async () => {
  throw new UsageError('rules is not available in this build yet');
};
