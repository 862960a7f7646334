import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CommandIO } from '../../src/cli/io.js';
import { AlertSchema, type Alert } from '../../src/model/index.js';
import type { DemoManifest } from '../../synth/scenario.js';

const repo = join(import.meta.dirname, '..', '..');

/** Which rule each step of the demo's attack must raise (the attack's steps, in order, are in demo/manifest.json). */
const RULES_BY_STEP: Record<string, string[]> = {
  signInFromNewIp: ['nhi-new-ip-then-key-access'],
  listKeys: ['ai-key-listing'],
  secretSweep: ['keyvault-mass-secret-read', 'keyvault-first-secret-read'],
  modelFlood: ['ai-invocation-rate-anomaly'],
  probeOtherModel: ['ai-new-caller'],
  grantDataRole: ['data-plane-role-granted'],
  crossSubscriptionCopy: ['cross-subscription-data-copy', 'cross-subscription-read-write-sequence'],
  disableMonitoring: ['monitoring-disabled-on-ai-resource'],
};

/** Which rule each step of the second chain (a stolen API key) must raise, and for whom: the harvesting principal, or the key. */
const KEY_CHAIN_RULES: Record<string, { rules: string[]; by: 'harvester' | 'key' }> = {
  harvestSecrets: { rules: ['ai-secret-harvest'], by: 'harvester' },
  keyFromNewNetwork: { rules: ['ai-key-auth-from-new-network'], by: 'key' },
  volumeDrain: { rules: ['ai-token-volume-anomaly', 'ai-invocation-rate-anomaly'], by: 'key' },
};

/** Which rule each step of the third chain (a secret planted on a service principal) must raise, all about that service principal. */
const CREDENTIAL_CHAIN_RULES: Record<string, string[]> = {
  addSecret: [],
  secretFromNewIp: ['sp-credential-added-then-used'],
  graphRecon: ['nhi-graph-recon-burst'],
};

/** What must never reach an alert: SAS signatures (redacted ones read `sig=[REDACTED]`, `sig=REDACTED`, or are cut after `sig=[`), account keys, bearer tokens and JWTs. */
const SECRETS = [/sig=(?!\[|REDACTED)[^&"\s]/i, /AccountKey=/i, /SharedAccessKey=/i, /Bearer\s+[\w.-]{20,}/i, /eyJ[\w-]{8,}\.[\w-]{8,}/];

function capturingIO(progress: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress };
  return { io, out, err };
}

describe('warden demo (npm start)', () => {
  let dir: string;
  let manifest: DemoManifest;
  let alerts: Alert[];
  let out: string[];
  let err: string[];
  let code: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-demo-'));
    manifest = JSON.parse(await readFile(join(repo, 'demo/manifest.json'), 'utf8')) as DemoManifest;
    const run = capturingIO(true);
    code = await main(['demo', '--json', '--out', join(dir, 'alerts.jsonl')], run.io);
    ({ out, err } = run);
    alerts = (await readFile(join(dir, 'alerts.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('raises exactly the three chains’ alerts: each expected rule once, for the compromised principals only', () => {
    expect(code).toBe(0);
    expect(manifest.attacker.steps.map((s) => s.step)).toEqual(Object.keys(RULES_BY_STEP));
    expect(manifest.keyChain.steps.map((s) => s.step)).toEqual(Object.keys(KEY_CHAIN_RULES));
    expect(manifest.credentialChain.steps.map((s) => s.step)).toEqual(Object.keys(CREDENTIAL_CHAIN_RULES));
    const expected = Object.values(RULES_BY_STEP)
      .flat()
      .map((rule) => `${rule} ${manifest.attacker.principalId}`);
    for (const { rules, by } of Object.values(KEY_CHAIN_RULES)) expected.push(...rules.map((rule) => `${rule} ${manifest.keyChain[by].principalId}`));
    // The secret's adder raises nothing of its own: the alerts are about the service principal the secret was planted on.
    for (const rules of Object.values(CREDENTIAL_CHAIN_RULES)) expected.push(...rules.map((rule) => `${rule} ${manifest.credentialChain.target.principalId}`));
    const benign = new Map(manifest.benign.map((b) => [b.principalId, b.name]));
    expect(
      alerts
        .filter((a) => !benign.has(a.PrincipalId))
        .map((a) => `${a.RuleId} ${a.PrincipalId}`)
        .sort(),
    ).toEqual(expected.sort());
    // Benign principals (the allow-listed key rotation, the busy key-auth app on its usual network) raise
    // nothing but carol's first call to the dev AI account: learning follows the principal, and she has
    // been watched longer than the demo's 30-minute learning period by then (docs/rules.md).
    expect(manifest.benign.map((b) => b.principalType)).toContain('key');
    expect(alerts.filter((a) => benign.has(a.PrincipalId)).map((a) => `${a.RuleId} ${benign.get(a.PrincipalId)}`)).toEqual([
      'ai-new-caller carol.silva@contoso.com',
    ]);
  });

  it('places each alert at or after the step that caused it, and names the principal', () => {
    const stepTime = new Map<string, number>(manifest.attacker.steps.map((s) => [s.step, Date.parse(s.time)]));
    for (const [step, rules] of Object.entries(RULES_BY_STEP)) {
      for (const rule of rules) {
        const alert = alerts.find((a) => a.RuleId === rule && a.PrincipalId === manifest.attacker.principalId)!;
        expect(Date.parse(alert.LastEventTime), `${rule} after ${step}`).toBeGreaterThanOrEqual(stepTime.get(step)!);
        expect(alert.PrincipalName).toBe(manifest.attacker.name);
        expect(alert.Title).toContain(manifest.attacker.name);
      }
    }
    const chainTime = new Map<string, number>(manifest.keyChain.steps.map((s) => [s.step, Date.parse(s.time)]));
    for (const [step, { rules, by }] of Object.entries(KEY_CHAIN_RULES)) {
      for (const rule of rules) {
        const alert = alerts.find((a) => a.RuleId === rule && a.PrincipalId === manifest.keyChain[by].principalId)!;
        expect(Date.parse(alert.LastEventTime), `${rule} after ${step}`).toBeGreaterThanOrEqual(chainTime.get(step)!);
      }
    }
    // The stolen key's new network is named in its alert.
    expect(alerts.find((a) => a.RuleId === 'ai-key-auth-from-new-network')!.Title).toContain(manifest.keyChain.network);
    const plantedTime = new Map<string, number>(manifest.credentialChain.steps.map((s) => [s.step, Date.parse(s.time)]));
    const { adder, target } = manifest.credentialChain;
    for (const [step, rules] of Object.entries(CREDENTIAL_CHAIN_RULES)) {
      for (const rule of rules) {
        const alert = alerts.find((a) => a.RuleId === rule && a.PrincipalId === target.principalId)!;
        expect(Date.parse(alert.LastEventTime), `${rule} after ${step}`).toBeGreaterThanOrEqual(plantedTime.get(step)!);
        expect(alert.Title).toContain(target.name);
      }
    }
    // The planted secret's alert joins the change (by its adder, on another partition) with the sign-in from the new address.
    const planted = alerts.find((a) => a.RuleId === 'sp-credential-added-then-used')!;
    expect(planted.Title).toContain(adder.name);
    expect(planted.Title).toContain(target.attackIp);
    expect(planted.IpAddresses).toContain(target.attackIp);
    // The secret was added to the app registration: the alert names the service principal that signed in, the app id in evidence.
    expect(planted.PrincipalId).toBe(target.principalId);
    expect(planted.Evidence).toMatchObject({ addedTo: 'Application', appId: target.appId });
  });

  it('gives every alert the Alert contract, and no alert carries a key, token or SAS signature', () => {
    for (const alert of alerts) {
      expect(AlertSchema.safeParse(alert).error, alert.RuleId).toBeUndefined();
      const json = JSON.stringify(alert);
      for (const secret of SECRETS) expect(json, `${alert.RuleId}: ${secret}`).not.toMatch(secret);
    }
    // The copy's source URL is in the evidence, signature redacted.
    const copy = alerts.find((a) => a.RuleId === 'cross-subscription-data-copy')!;
    expect(JSON.stringify(copy.Evidence)).toMatch(/customer-exports\/export-[^"]*sig=(\[|REDACTED)/);
  });

  it('prints a table of the alerts, a one-line summary, progress on stderr, and a JSON summary last', () => {
    const header = out.findIndex((l) => /^TIME\s+SEVERITY\s+RULE\s+PRINCIPAL\s+TITLE$/.test(l));
    expect(header).toBeGreaterThan(0);
    const rows = out.slice(header + 1, header + 1 + alerts.length);
    for (const alert of alerts) expect(rows.some((r) => r.includes(alert.RuleId) && r.includes(alert.Title))).toBe(true);
    expect(out.some((l) => new RegExp(`^${alerts.length} alerts \\(.*\\) from ${manifest.recordCount} records`).test(l))).toBe(true);
    expect(err.at(-1)).toBe(`demo: ${manifest.recordCount}/${manifest.recordCount} records, ${alerts.length} alerts`);
    const summary = JSON.parse(out.at(-1)!) as {
      alerts: number;
      records: number;
      deadLettered: number;
      alertsByRule: Record<string, number>;
      ruleErrors: Record<string, number>;
    };
    expect(summary).toMatchObject({ alerts: alerts.length, records: manifest.recordCount, deadLettered: 0, ruleErrors: {} });
    const chainRules = [...Object.values(KEY_CHAIN_RULES).flatMap((c) => c.rules), ...Object.values(CREDENTIAL_CHAIN_RULES).flat()];
    expect(Object.keys(summary.alertsByRule).sort()).toEqual([...new Set([...Object.values(RULES_BY_STEP).flat(), ...chainRules])].sort());
  });

  it('gives the same alerts (same AlertIds) with another number of partitions', async () => {
    const run = capturingIO(false);
    const file = join(dir, 'alerts-1.jsonl');
    expect(await main(['demo', '--partitions', '1', '--out', file], run.io)).toBe(0);
    const again = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
    expect(again.map((a) => a.AlertId).sort()).toEqual(alerts.map((a) => a.AlertId).sort());
  });

  it('refuses bad options with one line and exit code 2', async () => {
    const run = capturingIO(false);
    expect(await main(['demo', '--partitions', 'zero'], run.io)).toBe(2);
    expect(run.err).toEqual(["warden demo: --partitions must be a whole number from 1 to 1024, got 'zero'"]);
  });

  it('allow-lists the platform’s key rotation in demo/tunables.json, matching the manifest', async () => {
    const tunables = JSON.parse(await readFile(join(repo, 'demo/tunables.json'), 'utf8')) as Record<string, { allowPrincipals?: string[] }>;
    expect(tunables['ai-key-listing'].allowPrincipals).toEqual([...new Set(manifest.allowListed.map((a) => a.principalId))]);
  });
});
