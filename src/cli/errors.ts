import { WardenError } from '../common/errors.js';

/** A mistake the user can fix (bad flag, unreadable path): one line on stderr, exit code 2. */
export class UsageError extends WardenError {
  override name = 'UsageError';
  readonly userFixable = true;
}
