import { WardenError } from '../common/errors.js';

/**
 * A rule definition that cannot be used. One message names the rule's file (when loaded from
 * detections/), the rule and the field, and says what is expected, e.g.
 * `detections/x.ts: rule 'x', field 'techniques[0]': 'T15' is not a MITRE technique id (T1234 or T1234.001)`.
 */
export class RuleDefinitionError extends WardenError {
  override name = 'RuleDefinitionError';
  readonly userFixable = true;
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly ruleId?: string,
    readonly file?: string,
  ) {
    super(RuleDefinitionError.format(field, problem, ruleId, file));
  }

  /** The same error, now knowing which file the rule came from. */
  inFile(file: string): RuleDefinitionError {
    return new RuleDefinitionError(this.field, this.problem, this.ruleId, file);
  }

  private static format(field: string, problem: string, ruleId?: string, file?: string): string {
    const where = [file, ruleId ? `rule '${ruleId}'` : undefined, `field '${field}'`].filter(Boolean).join(', ');
    return `${where}: ${problem}`;
  }
}

/** A tunable override (WARDEN_TUNABLES, WARDEN_TUNABLES_FILE or the `tunables` option) that cannot be applied. */
export class TunableError extends WardenError {
  override name = 'TunableError';
  readonly userFixable = true;
}

/** `warden seed` met a partition whose state the live stream already wrote: history cannot be put before it. */
export class SeedOverLiveStateError extends WardenError {
  override name = 'SeedOverLiveStateError';
  readonly userFixable = true;
  constructor(readonly partitionId: string) {
    super(
      `partition ${partitionId} already holds state written by the live stream: history cannot be put before it. 'warden seed' clears such partitions of a stopped app first (give it the keyed hub's --partitions); if the app runs, stop it and seed again`,
    );
  }
}

/**
 * A key's stored state this build cannot read (written by a newer build, or damaged). The key is
 * dropped, counted as `corruptState` in health, and deleted at the next write: it learns again.
 */
export class StateFormatError extends WardenError {
  override name = 'StateFormatError';
  readonly userFixable = false;
  constructor(problem: string) {
    super(`stored state cannot be read: ${problem}. The key is dropped and counted as corruptState; if a newer build wrote it, run that build again`);
  }
}
