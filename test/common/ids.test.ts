import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isGuid, resourceName, resourceTypeFromResourceId, subscriptionFromResourceId } from '../../src/common/ids.js';

const ACCOUNT = '/subscriptions/0f0f0f0f-1111-4222-8333-444444444444/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/OAI-Prod';

describe('resourceName: the name rule titles and normalizer details give a resource', () => {
  it('is the last segment of the id, in the case the id has', () => {
    // Normalizers lower-case ids before asking (NormalizedEvent.resourceId is lower-case), so details and titles agree.
    expect(resourceName(ACCOUNT)).toBe('OAI-Prod');
    expect(resourceName(ACCOUNT.toLowerCase())).toBe('oai-prod');
  });

  it('ignores trailing slashes: an id written with one names the same resource', () => {
    expect(resourceName(`${ACCOUNT.toLowerCase()}/`)).toBe('oai-prod');
    expect(resourceName(`${ACCOUNT.toLowerCase()}///`)).toBe('oai-prod');
  });

  it('is undefined when there is no name, so a title can say "(unknown)"', () => {
    for (const id of [undefined, '', '/', '///']) expect(resourceName(id)).toBeUndefined();
  });

  it('for any id: the segment after the last slash, slashes after it ignored', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), fc.nat(3), (segments, slashes) => {
        expect(resourceName(`/${segments.join('/')}${'/'.repeat(slashes)}`)).toBe(segments.at(-1));
      }),
    );
  });
});

describe('what else a resource id says', () => {
  it('its subscription and its type, lower-case; the last provider segment wins', () => {
    expect(subscriptionFromResourceId(ACCOUNT)).toBe('0f0f0f0f-1111-4222-8333-444444444444');
    expect(resourceTypeFromResourceId(ACCOUNT)).toBe('microsoft.cognitiveservices/accounts');
    expect(resourceTypeFromResourceId(`${ACCOUNT}/providers/Microsoft.Insights/diagnosticSettings/to-warden`)).toBe('microsoft.insights/diagnosticsettings');
    expect(subscriptionFromResourceId('/providers/Microsoft.Management/managementGroups/root')).toBeUndefined();
    expect(resourceTypeFromResourceId('/subscriptions/0f0f0f0f-1111-4222-8333-444444444444')).toBeUndefined();
  });

  it('isGuid takes a GUID in either case and nothing else', () => {
    expect(isGuid('0F0F0F0F-1111-4222-8333-444444444444')).toBe(true);
    expect(isGuid('0f0f0f0f-1111-4222-8333-44444444444')).toBe(false);
    expect(isGuid(42)).toBe(false);
  });
});
