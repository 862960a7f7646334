/**
 * Microsoft first-party application ids whose routine control-plane and data-plane calls look like
 * the behaviours several rules alert on: indexing that reads every vault and account, policy scans
 * that list keys, backups that back up Key Vault objects and read storage, Defender's assessments.
 * A rule takes this list as its `allowPrincipals` default (`allowPrincipals: FIRST_PARTY_NOISE_APPS`);
 * a deployer's `allowPrincipals` override replaces the default, so an extended list starts from
 * these ids (the catalogue prints them with each rule). Verify them against the tenant's
 * Enterprise applications (filter "Microsoft Applications") when in doubt.
 */
export const FIRST_PARTY_NOISE_APPS: readonly string[] = Object.freeze([
  /** Azure Resource Graph: indexes resources (VaultGet, account reads) across the tenant. */
  '509e4652-da8d-478d-a730-e9d4a1996ca4',
  /** Microsoft Azure Policy Insights: policy evaluation and compliance scans. */
  '1d78a85d-813d-46f0-b496-dd72f50a3ec0',
  /** Microsoft Policy Insights Provider Data Plane: policy's data-plane checks (Key Vault objects). */
  '8cae6e77-e04e-42ce-b5cb-50d82bce26b1',
  /** Backup Management Service (Azure Backup): backs up Key Vault objects and reads storage. */
  '262044b1-e2ce-469f-a196-69ab7ada62d3',
  /** Microsoft Defender for Cloud: posture assessments and scans of resources. */
  '6b5b3617-ba00-46f6-8770-1849282a189a',
]);
