import { UsageError } from '../errors.js';
import type { Command } from '../io.js';

export const run: Command = async () => {
  throw new UsageError('send is not available in this build yet');
};
