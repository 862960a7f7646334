import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RAW_LIMIT, DeadLetterSchema, NormalizedEventSchema } from '../../src/model/index.js';
import { listCaptureFiles } from '../../src/ingest/files.js';
import { IngestTotals } from '../../src/ingest/pipeline.js';
import { replayFiles } from '../../src/ingest/replay.js';
import { EXTERNAL_CAPTURES as CAPTURES } from '../support/external-captures.js';

/**
 * Conformance over every public capture in ../shared/captures/external (see its SOURCES.md): each
 * record is normalized, skipped by category, or dead-lettered with a reason; nothing throws and
 * nothing goes missing.
 */

/** Record counts SOURCES.md gives per file (fragments and non-records count 0 there). */
function documentedCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(join(CAPTURES, 'SOURCES.md'), 'utf8').split('\n')) {
    // Rows of the Files table: | local file | repo | path | commit | license | format | kinds | record count | notes |
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 11) continue;
    const file = /^`([^`]+)`$/.exec(cells[1])?.[1];
    const count = Number(cells[8]);
    if (file && Number.isInteger(count)) counts.set(file, count);
  }
  return counts;
}

interface FileCounts {
  records: number;
  events: number;
  skipped: number;
  deadLettered: number;
}

describe('conformance: every public capture file', async () => {
  const { files } = await listCaptureFiles([CAPTURES]);
  const perFile = new Map<string, FileCounts>();
  const totals = new IngestTotals();
  const deadLetterReasons: string[] = [];

  it('reads every file; each record is an event, skipped, or a dead letter; nothing throws', async () => {
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      const mine = new IngestTotals();
      for await (const { result, location } of replayFiles([file])) {
        const skipped = Object.values(result.skippedByCategory).reduce((a, b) => a + b, 0);
        expect(result.records, `${file} ${JSON.stringify(location)}`).toBe(
          result.events.length + skipped + result.deadLetters.length + result.deadLettersNotKept,
        );
        for (const { event, location: at } of result.events) {
          const parsed = NormalizedEventSchema.safeParse(event);
          expect(parsed.success, `${file} ${JSON.stringify(at)}: ${parsed.error?.message}`).toBe(true);
          expect(at.file).toBe(file);
          expect(result.bySource[event.source]).toBeGreaterThan(0);
        }
        for (const d of result.deadLetters) {
          expect(() => DeadLetterSchema.parse(d)).not.toThrow();
          expect(d.reason.length).toBeGreaterThan(0);
          expect(d.location.file).toBe(file);
          expect(Buffer.byteLength(d.raw)).toBeLessThanOrEqual(DEAD_LETTER_RAW_LIMIT);
          deadLetterReasons.push(d.reason);
        }
        mine.add(result);
        totals.add(result);
      }
      const s = mine.summary();
      perFile.set(relative(CAPTURES, file), { records: s.records, events: s.events, skipped: s.skipped, deadLettered: s.deadLettered });
    }
    const s = totals.summary();
    expect(s.records).toBe(s.events + s.skipped + s.deadLettered);
  });

  it('finds as many records in each file as SOURCES.md documents (a fragment is one dead letter)', () => {
    const documented = documentedCounts();
    expect(documented.size).toBe(perFile.size);
    for (const [file, counts] of perFile) {
      const expected = documented.get(file);
      expect(expected, `${file} is not in SOURCES.md`).toBeDefined();
      if (expected === 0) expect(counts, file).toEqual({ records: 1, events: 0, skipped: 0, deadLettered: 1 });
      else expect(counts.records, file).toBe(expected);
    }
  });

  it('dead-letters only malformed records: not JSON, not an Azure Monitor record, or no time or no operation', () => {
    // A record with a time and an operation is an event even when it names nobody (principal `unknown`).
    const malformed = /^(invalid JSON|no category: not an Azure Monitor record|\w+: no usable event time|\w+: no operation in )/;
    expect(deadLetterReasons.filter((r) => !malformed.test(r))).toEqual([]);
    expect(deadLetterReasons.length).toBe(totals.summary().deadLettered);
  });

  it('gives the pinned counts per file (records events skipped dead-lettered)', () => {
    // Refresh with `npx vitest run test/conformance/pipeline.test.ts -u` when a normalizer changes on purpose.
    const table = [...perFile]
      .map(([file, c]) => `${[c.records, c.events, c.skipped, c.deadLettered].map((n) => String(n).padStart(3)).join(' ')}  ${file}`)
      .join('\n');
    expect(`\n${table}\n`).toMatchInlineSnapshot(`
      "
        1   1   0   0  azure-docs/articles__storage__blobs__monitor-blob-storage-reference.md__jsonblock01.json
        1   0   0   1  azure-docs/articles__storage__blobs__monitor-blob-storage-reference.md__jsonblock02.json
        1   0   0   1  azure-docs/articles__storage__blobs__monitor-blob-storage-reference.md__jsonblock03.json
        1   1   0   0  azure-monitor-docs/articles__azure-monitor__platform__activity-log-schema.md__jsonblock-eventhub-schema-example.json
        1   1   0   0  azure-security-docs/articles__key-vault__general__logging.md__jsonblock01.json
        1   1   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-acitivitylogs-responsebody.log
        3   3   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-activitylogs-edgecases.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-activitylogs-identity.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-activitylogs-mixedcase-resourceid.log
        3   3   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-activitylogs-raw.log
        3   3   0   0  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-azure-activitylogs-duration-as-string-sample.log
       11   0   0  11  elastic-integrations/packages__azure__data_stream__activitylogs___dev__test__pipeline__test-time-formats-corner-cases.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-audit-logs-duration-as-string.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-audit-logs-edgecases.log
        3   3   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-audit-logs-sample.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-audit-logs-tenant-from-resource-id.log
        3   3   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-auditlogs-raw.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-auditlogs-result-description.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-auditlogs-result-reason.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-auditlogs.log
       11   0   0  11  elastic-integrations/packages__azure__data_stream__auditlogs___dev__test__pipeline__test-time-formats-corner-cases.log
        8   0   0   8  elastic-integrations/packages__azure__data_stream__events___dev__test__pipeline__test-activitylogs-categories.log
        5   0   1   4  elastic-integrations/packages__azure__data_stream__events___dev__test__pipeline__test-signinlogs-raw.log
        2   0   2   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-azurenativeisv-valid-fieldnames.log
        2   0   2   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-edgecases.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-functionapp.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-identity.log
        1   0   0   1  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-invalid-json-direct.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-invalid-json-raw.log
        3   0   3   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-invalid-raw.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-kube.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-liftr-raw.log
        1   0   0   1  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-liftr.log
        1   0   0   1  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-malformed-json.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-raw.log
        1   0   0   1  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-springcloudlog-raw.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-platformlogs-tenant-metadata.log
       11   0  11   0  elastic-integrations/packages__azure__data_stream__platformlogs___dev__test__pipeline__test-time-formats-corner-cases.log
        1   0   1   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-adfs-signin.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-alternative-time-and-duration-as-string.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-created-datetime-timestamp.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-invalid-time.log
       33  33   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-managed-identity-sample.log
       15  15   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-non-interactive-user-sample.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-non-interactive-user-signin.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-non-interactive-user.log
        7   7   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-service-principal-signinlogs-sample.log
        1   1   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-service-principal.log
        5   4   1   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-signinlogs-raw.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-signinlogs-sample.log
        2   2   0   0  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-signinlogs.log
       11   0   0  11  elastic-integrations/packages__azure__data_stream__signinlogs___dev__test__pipeline__test-time-formats-corner-cases.log
        1   1   0   0  elastic-integrations/packages__azure_ai_foundry__data_stream__logs___dev__test__pipeline__test-ai-foundry-audit.log
        2   2   0   0  elastic-integrations/packages__azure_ai_foundry__data_stream__logs___dev__test__pipeline__test-ai-foundry-request-response.log
        1   1   0   0  elastic-integrations/packages__azure_openai__data_stream__logs___dev__test__pipeline__test-open-ai-audit.log
        2   0   2   0  elastic-integrations/packages__azure_openai__data_stream__logs___dev__test__pipeline__test-open-ai-gateway.log
        3   3   0   0  elastic-integrations/packages__azure_openai__data_stream__logs___dev__test__pipeline__test-open-ai-request-response.log
        1   1   0   0  entra-docs/docs__identity__monitoring-health__reference-azure-monitor-sign-ins-log-schema.md__jsonblock01.json
        2   2   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__activitylogs__administrative-log.json
        1   1   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__activitylogs__alert-log.json
        1   1   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__activitylogs__autoscale-log.json
        3   3   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__activitylogs__pim-log.json
        1   1   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__activitylogs__security-log.json
        1   1   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__policy__policy-log.json
        1   1   0   0  otel-collector-contrib/extension__encoding__azureencodingextension__internal__unmarshaler__logs__testdata__storage__storage-read-log.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azure__testdata__log-appserviceipsecauditlogs.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azure__testdata__log-appserviceplatformlogs.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azure__testdata__log-bad-time.json
        2   2   0   0  otel-collector-contrib/pkg__translator__azure__testdata__log-maximum.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__administrative__valid_1.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__alert__valid_2.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__appservicelog__appservice_applogs.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__appservicelog__appservice_httplogs.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__azurecdnaccesslog__valid_3.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__azurevnetflowlog__valid_1.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__cdnaccesslog__valid_2.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__cornercases__bad_level.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__cornercases__identity_as_object.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__cornercases__identity_as_string.json
        2   2   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__cornercases__minimum-2.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__frontdoorhealthprobelog__valid_1.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__frontdoorwebapplicationfirewalllog__valid_1.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__log-appserviceconsolelogs.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__log-azurecdnaccesslog.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__log-frontdooraccesslog.json
        1   0   1   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__log-frontdoorwaflog.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__log-minimum.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__recommendation__valid_1.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__resourcehealthlog__valid_1.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__servicehealth__valid_1.json
        1   1   0   0  otel-collector-contrib/pkg__translator__azurelogs__testdata__servicehealthlog__valid_1.json
      "
    `);
  });
});

/**
 * The second corpus (../shared/captures/external2, see its SOURCES.md): Log Analytics portal CSV
 * exports and their rows as JSON, forwarders' and hand-written activity and sign-in records.
 */
const CAPTURES2 = join(import.meta.dirname, '..', '..', '..', 'shared', 'captures', 'external2');

describe.runIf(existsSync(CAPTURES2))('conformance: the second public corpus (portal exports, forwarders)', () => {
  it('accounts for every record and gives the pinned counts per file (records events skipped dead-lettered)', async () => {
    const { files } = await listCaptureFiles([CAPTURES2]);
    const rows: string[] = [];
    for (const file of files) {
      const mine = new IngestTotals();
      for await (const { result } of replayFiles([file])) {
        for (const { event } of result.events) expect(NormalizedEventSchema.safeParse(event).success, file).toBe(true);
        mine.add(result);
      }
      const s = mine.summary();
      expect(s.records, file).toBe(s.events + s.skipped + s.deadLettered);
      rows.push(`${[s.records, s.events, s.skipped, s.deadLettered].map((n) => String(n).padStart(3)).join(' ')}  ${relative(CAPTURES2, file)}`);
    }
    // Refresh with `npx vitest run test/ingest/conformance.test.ts -u` when a normalizer changes on purpose.
    expect(`\n${rows.join('\n')}\n`).toMatchInlineSnapshot(`
      "
        5   0   0   5  azure-sentinel-training-lab/AuditLogs_Hunting.csv
        5   0   0   5  azure-sentinel-training-lab/AuditLogs_Hunting.rows.json
       23  23   0   0  azure-sentinel-training-lab/azureActivity_adele.csv
       23  23   0   0  azure-sentinel-training-lab/azureActivity_adele.rows.json
        4   0   0   4  azure-sentinel-training-lab/disable_accounts.csv
        4   0   0   4  azure-sentinel-training-lab/disable_accounts.rows.json
       56  56   0   0  azure-sentinel-training-lab/sign-in_adelete.csv
       56  56   0   0  azure-sentinel-training-lab/sign-in_adelete.rows.json
        1   0   0   1  azure-sentinel-training-lab/signinLogs.csv
        1   0   0   1  azure-sentinel-training-lab/signinLogs.rows.json
        5   5   0   0  vendors/dynatrace-records.ndjson
      214 207   0   7  vendors/panther-azure_activity_rules.ndjson
       47  33   4  10  vendors/panther-azure_signin_rules.ndjson
        1   1   0   0  vendors/sumologic-activity_log_fixtures.json
      "
    `);
  });

  it('gives a portal CSV export the events of the same rows as JSON, ids included', async () => {
    const ids = async (file: string) => {
      const out: string[] = [];
      for await (const { result } of replayFiles([file])) out.push(...result.events.map((e) => e.event.id));
      return out.sort();
    };
    const { files } = await listCaptureFiles([CAPTURES2]);
    const csvs = files.filter((f) => f.endsWith('.csv') && files.includes(f.replace(/\.csv$/, '.rows.json')));
    expect(csvs.length).toBeGreaterThanOrEqual(4);
    for (const csv of csvs) expect(await ids(csv), csv).toEqual(await ids(csv.replace(/\.csv$/, '.rows.json')));
  });
});
