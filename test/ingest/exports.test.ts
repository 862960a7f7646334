import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ingestBody } from '../../src/ingest/pipeline.js';
import type { Alert } from '../../src/model/index.js';

/** Every export format an analyst produces (issue #14 item 4), made from the project's own older-schema AzureActivity rows. */

const ROWS = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/azure-activity-older-schema.json', import.meta.url)), 'utf8')) as Array<
  Record<string, string>
>;
const dir = mkdtempSync(join(tmpdir(), 'warden-exports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `2020-06-15T09:14:41.598Z` → `6/15/2020, 9:14:41.598 AM`, as the portal writes datetime cells. */
function portalTime(iso: string): string {
  const d = new Date(iso);
  const h = d.getUTCHours();
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()}, ${h % 12 || 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} ${h < 12 ? 'AM' : 'PM'}`;
}

const cell = (v: string | undefined) => (v === undefined ? '' : /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * The Log Analytics portal's "Export to CSV": BOM, CRLF, `$table` first (unless `withTable` is
 * false), ` [UTC]` after datetime columns, portal times, JSON cells pretty-printed over several lines, newest row first.
 */
function portalCsv(rows: Array<Record<string, string>>, withTable = true): string {
  const columns = Object.keys(rows[0]).filter((c) => c !== 'Type');
  const header = [...(withTable ? ['$table'] : []), ...columns.map((c) => (c === 'TimeGenerated' || c === 'EventSubmissionTimestamp' ? `${c} [UTC]` : c))];
  const lines = [...rows].reverse().map((r) =>
    [
      ...(withTable ? [r.Type] : []),
      ...columns.map((c) => {
        const v = r[c];
        if (c === 'TimeGenerated' || c === 'EventSubmissionTimestamp') return cell(portalTime(v));
        if (c === 'Authorization' || c === 'Properties') return cell(JSON.stringify(JSON.parse(v), null, 2).replace(/\n/g, '\r\n'));
        return cell(v);
      }),
    ].join(','),
  );
  return `\ufeff${[header.join(','), ...lines].join('\r\n')}\r\n`;
}

async function replay(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['replay', ...argv], { stdout: (l) => out.push(l), stderr: (l) => err.push(l), progress: false });
  return { code, err, summary: JSON.parse(out.at(-1)!) as Record<string, unknown> };
}

const alertsIn = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Alert);

describe('exports an analyst produces', () => {
  it('reads a folder of portal CSV exports as rows, newest-first rows applied in time order, and raises the key-listing alert', async () => {
    const folder = join(dir, 'csv');
    mkdirSync(folder);
    writeFileSync(join(folder, 'query_data.csv'), portalCsv(ROWS));
    const out = join(dir, 'csv-alerts.jsonl');
    const run = await replay(folder, '--rules', 'storage-key-listing', '--out', out, '--json');
    expect(run.err).toEqual([]);
    expect(run.summary).toMatchObject({ records: 4, events: 4, deadLettered: 0, late: 0, bySource: { activity: 4 } });
    expect(alertsIn(out).map((a) => [a.RuleId, a.PrincipalId])).toEqual([['storage-key-listing', 'alex.wilber@contoso.com']]);
  });

  it('gives CSV rows the events their JSON rows give, ids included', () => {
    const fromCsv = ingestBody(portalCsv(ROWS), { file: 'x.csv' }).events.map((e) => e.event);
    const fromJson = ingestBody(JSON.stringify(ROWS), { file: 'x.json' }).events.map((e) => e.event);
    expect(fromCsv.map((e) => e.id).sort()).toEqual(fromJson.map((e) => e.id).sort());
    // Portal times (`6/15/2020, 9:14:41.207 AM`, column `TimeGenerated [UTC]`) read to the millisecond.
    expect(fromCsv.map((e) => e.time).sort()).toEqual(ROWS.map((r) => Date.parse(r.TimeGenerated)).sort());
  });

  it('reads rows without a Type column as the table --table names, and warns when no source reads that table', async () => {
    const file = join(dir, 'no-table.csv');
    writeFileSync(file, portalCsv(ROWS, false));
    const unnamed = await replay(file, '--json');
    expect(unnamed.summary).toMatchObject({ events: 0, deadLettered: 4 });
    const named = await replay(file, '--table', 'AzureActivity', '--json');
    expect(named.err).toEqual([]);
    expect(named.summary).toMatchObject({ events: 4, deadLettered: 0 });
    const typo = await replay(file, '--table', 'AzureActivty', '--json');
    expect(typo.err).toEqual([expect.stringMatching(/^warden replay: no source reads table 'AzureActivty': .*tables read: AzureActivity, /)]);
    expect(typo.summary).toMatchObject({ events: 0, skipped: 4 });
  });

  it('reads UTF-16 JSON (Windows PowerShell 5) and a query API answer saved without a file extension', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(ROWS), 'utf16le')]);
    expect(ingestBody(utf16, {}).events).toHaveLength(4);
    const columns = Object.keys(ROWS[0]);
    const answer = join(dir, 'answer');
    writeFileSync(
      answer,
      JSON.stringify({
        tables: [{ name: 'PrimaryResult', columns: columns.map((name) => ({ name, type: 'string' })), rows: ROWS.map((r) => columns.map((c) => r[c])) }],
      }),
    );
    expect((await replay(answer, '--json')).summary).toMatchObject({ events: 4, deadLettered: 0 });
  });

  it('names the column a row lacks in the dead-letter reason', () => {
    const { TimeGenerated: _, ...noTime } = ROWS[1];
    const { OperationName: __, Authorization: ___, Properties: ____, ...noOperation } = ROWS[1];
    const reasons = ingestBody(JSON.stringify([noTime, noOperation]), {}).deadLetters.map((d) => d.reason);
    expect(reasons).toEqual([
      expect.stringContaining("no usable event time in 'TimeGenerated'"),
      expect.stringContaining("no operation in 'OperationNameValue or OperationName'"),
    ]);
  });
});
