/**
 * Principal keys and the client applications that never name who acted (docs/sources.md, "Principals").
 */

/**
 * Microsoft's first-party public client applications: tools every user of a tenant signs in
 * through, whose app id a user's token carries as `appid`. Keyed by that id, every user of the
 * Azure CLI would be one principal, so ingest never takes one of these as the actor. Ids as
 * Microsoft Learn lists them ("Verify first-party Microsoft applications in sign-in reports");
 * `FIRST_PARTY_CLIENT_IDS` is also a ready allow-list for rules whose tunables take app ids.
 */
export const FIRST_PARTY_CLIENTS: ReadonlyArray<{ appId: string; name: string }> = [
  { appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46', name: 'Microsoft Azure CLI' },
  { appId: '1950a258-227b-4e31-a9cf-717495945fc2', name: 'Microsoft Azure PowerShell' },
  { appId: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c', name: 'Azure Portal' },
  { appId: '0c1307d4-29d6-4389-a11c-5cbe7f65d7fa', name: 'Azure Mobile App' },
  { appId: '872cd9fa-d31f-45e0-9eab-6e460a02d1f1', name: 'Visual Studio' },
  { appId: 'aebc6443-996d-45c2-90f0-388ff96faa56', name: 'Visual Studio Code' },
  { appId: '1b730954-1685-4b74-9bfd-dac224a7b894', name: 'Azure Active Directory PowerShell' },
  { appId: '14d82eec-204b-4c2f-b7e8-296a70dab67e', name: 'Microsoft Graph Command Line Tools' },
  { appId: 'd3590ed6-52b3-4102-aeff-aad2292ab01c', name: 'Microsoft Office' },
  { appId: '1fec8e78-bce4-4aaf-ab1b-5451cc387264', name: 'Microsoft Teams' },
];

export const FIRST_PARTY_CLIENT_IDS: readonly string[] = FIRST_PARTY_CLIENTS.map((c) => c.appId);
const FIRST_PARTY = new Set(FIRST_PARTY_CLIENT_IDS);

/** A Microsoft public client: its app id says which tool was used, not who used it. */
export function isFirstPartyClient(appId: string | undefined): boolean {
  return appId !== undefined && FIRST_PARTY.has(appId.toLowerCase());
}

const UNIDENTIFIED = 'unknown';

/**
 * The key of an actor a record does not identify, scoped to where it acted (a resource id, or a
 * source and how it authenticated): `unknown:<scope>`. Never an object id, app id or `key:`, so it
 * cannot collide with a real principal, and two resources' anonymous callers stay apart.
 */
export function unidentifiedPrincipalId(scope: string): string {
  return `${UNIDENTIFIED}:${scope.toLowerCase()}`;
}

/** Whether a principal key names nobody in particular (also the bare `unknown` of state written before scoped keys). */
export function isUnidentified(principalId: string): boolean {
  return principalId === UNIDENTIFIED || principalId.startsWith(`${UNIDENTIFIED}:`);
}
