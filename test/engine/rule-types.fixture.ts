import { defineRule } from '../../src/engine/api.js';

/**
 * Checked by `npm run typecheck` (tsconfig includes test/): each `@ts-expect-error` below must
 * stay an error, or the typecheck fails. test/engine/rule-types.test.ts checks the messages.
 */
export const misspeltDetail = defineRule({
  id: 'typed-details',
  version: '1',
  title: 't',
  description: 'd',
  severity: 'Low',
  tactics: ['CredentialAccess'],
  techniques: [],
  sources: ['keyvault'],
  // @ts-expect-error -- Key Vault events have details.secretName, not secretNmae
  where: (e) => e.details.secretNmae === 'db-password',
  kind: 'match',
});
