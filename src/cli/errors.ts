import { WardenError } from '../common/errors.js';

/** A mistake the user can fix (bad flag, unreadable path): one line on stderr, exit code 2. */
export class UsageError extends WardenError {
  override name = 'UsageError';
  readonly userFixable = true;
}

/** `warden seed` while the app runs: seeding would race its writes to the same partitions. */
export class SeedWhileAppRunsError extends WardenError {
  override name = 'SeedWhileAppRunsError';
  readonly userFixable = true;
  constructor(signs: string, staleAfter: string) {
    super(
      `the app is running: ${signs}. Seeding now would race its writes: stop it (Function App → Stop, or end 'warden run'), wait until nothing was written for ${staleAfter} (--stale-after), then seed; --force seeds anyway`,
    );
  }
}
