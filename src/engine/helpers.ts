import type { NormalizedEvent, PrincipalType, SourceEvent } from '../model/index.js';
import { tunable, type Tunable } from './rule.js';

/** Readers several rules share (rules import them from the rule API, src/engine/api.ts). */

export { resourceName } from '../common/ids.js';

/** The name of the secret, key or certificate a Key Vault request addresses. */
export function keyVaultObjectName(e: SourceEvent<'keyvault'>): string | undefined {
  return e.details.secretName ?? e.details.keyName ?? e.details.certificateName;
}

/** `vault/name` of the Key Vault object a request reads: the same name in two vaults is two objects. */
export function keyVaultObject(e: SourceEvent<'keyvault'>): string | undefined {
  const name = keyVaultObjectName(e);
  return name === undefined ? undefined : `${e.details.vault ?? e.resourceId ?? ''}/${name}`;
}

const NON_HUMAN: ReadonlySet<PrincipalType> = new Set(['servicePrincipal', 'managedIdentity']);

/** The tunable `nonHumanSignInFromNewIp` reads: declare it among the rule's tunables as `trustedIpPrefixes`. */
export function trustedIpPrefixesTunable(): Tunable<string[]> {
  return tunable([] as string[], 'Address prefixes never counted as new (NAT gateways, build agents\' ranges), e.g. "10.20."');
}

/**
 * A sequence step: a service principal or managed identity signing in from an IP address never
 * seen for it (after it has been watched for the learning period), outside the rule's
 * `trustedIpPrefixes`. Give it a `relate` to tie it to earlier steps: `{ ...nonHumanSignInFromNewIp(name), relate }`.
 */
export function nonHumanSignInFromNewIp(name: string) {
  return {
    name,
    sources: ['signin'] as const,
    where: (e: Pick<NormalizedEvent, 'result' | 'principalType' | 'ip'>, { trustedIpPrefixes }: { readonly trustedIpPrefixes: readonly string[] }) =>
      e.result === 'success' && NON_HUMAN.has(e.principalType) && e.ip !== undefined && !trustedIpPrefixes.some((p) => e.ip!.startsWith(p)),
    firstSeen: {
      value: 'ip' as const,
      horizon: tunable('30d', 'How long an address stays known after the identity last signed in from it'),
      learning: tunable('7d', 'Nothing is a new address until the identity has been watched this long'),
    },
  };
}
