import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DEMO_CAPTURE_FILE, DEMO_MANIFEST_FILE, renderDemoCapture } from './demo-capture.js';

// Writes the committed demo capture: `npm run demo:generate`.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { ndjson, manifest } = renderDemoCapture();
const capturePath = resolve(root, DEMO_CAPTURE_FILE);
mkdirSync(dirname(capturePath), { recursive: true });
const gz = gzipSync(ndjson, { level: 9 });
writeFileSync(capturePath, gz);
writeFileSync(resolve(root, DEMO_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
process.stderr.write(
  `wrote ${DEMO_CAPTURE_FILE}: ${manifest.recordCount} records in ${manifest.capture.bodies} bodies, ` +
    `${manifest.capture.bytes} bytes (${gz.length} gzipped), ${manifest.start} to ${manifest.end}; ` +
    `attacker ${manifest.attacker.name} ${manifest.attacker.principalId}\n`,
);
