/**
 * The base of every error Warden throws on purpose. `userFixable` says who can fix it, so callers
 * decide on the flag and never on a list of error names:
 * - a user error (bad flag, setting, rule or tunable, unreadable path, bad inventory) is fixed by
 *   whoever runs Warden; its message says how, and the CLI prints that one line and exits 2;
 * - a system error (storage or network failure, a record Warden cannot handle) is not theirs to
 *   fix by changing what they typed; the CLI prints its name and message and exits 1.
 * Subclasses end in `Error`, set `name` to their class name, and state `userFixable`.
 */
export abstract class WardenError extends Error {
  abstract readonly userFixable: boolean;
}
