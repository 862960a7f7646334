import type { SourceEvent } from '../model/index.js';

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
