import { generateDemo, type DemoManifest } from './scenario.js';

/** Where the demo capture lives in the repo (committed; `npm run demo:generate` rewrites it). */
export const DEMO_CAPTURE_FILE = 'demo/tenant-hour.ndjson.gz';
export const DEMO_MANIFEST_FILE = 'demo/manifest.json';

const RECORDS_PER_BODY = 100;

export interface DemoCapture {
  /** One `{"records":[...]}` Event Hubs body per line, in time order. */
  ndjson: string;
  manifest: DemoManifest & { capture: { file: string; bodies: number; bytes: number } };
}

/** The demo hour as the files `npm start` replays: NDJSON of bodies plus a manifest of who is who. */
export function renderDemoCapture(options: { seed?: number; start?: number } = {}): DemoCapture {
  const demo = generateDemo(options);
  const lines: string[] = [];
  for (let i = 0; i < demo.records.length; i += RECORDS_PER_BODY) {
    lines.push(JSON.stringify({ records: demo.records.slice(i, i + RECORDS_PER_BODY) }));
  }
  const ndjson = `${lines.join('\n')}\n`;
  return {
    ndjson,
    manifest: { ...demo.manifest, capture: { file: DEMO_CAPTURE_FILE, bodies: lines.length, bytes: Buffer.byteLength(ndjson) } },
  };
}
