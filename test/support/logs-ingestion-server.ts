/**
 * A stand-in for the Azure Monitor Logs Ingestion API (what Sentinel's WardenAlerts_CL is fed
 * through), for the real `LogsIngestionClient` to talk to:
 * `POST /dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=…` over HTTPS with a
 * certificate made at start, a bearer token required (401 without), a JSON array body, gzip
 * accepted (the SDK always gzips), bodies over 1 MiB refused with 413 ContentLengthLimitExceeded
 * (compressed or not), 204 on success, errors as `{"error":{"code","message"}}`. Tests can make it
 * throttle (429 + Retry-After), fail, be down or never answer, and read every row it accepted. It
 * can also drop rows after answering 204, as a DCR does with rows its transform or the table refuses.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { loopbackCertificate } from './loopback-certificate.js';

/** The service's limit on one call's body: "Maximum allowed content length: 1048576 bytes (1 MB)." */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ReceivedRequest {
  ruleId: string;
  stream: string;
  apiVersion: string | null;
  status: number;
  gzip: boolean;
  /** Bytes on the wire and after gunzip. */
  bytes: number;
  uncompressedBytes: number;
  rows: number;
}

export interface LogsIngestionTestServer {
  /** The data collection endpoint to give the client: `https://127.0.0.1:<port>`. */
  endpoint: string;
  /** The DCR immutable id the server knows; others get 404. */
  ruleId: string;
  /** PEM of the server's self-signed certificate: what the client must trust. */
  ca: string;
  /** A credential whose token the server accepts (it records the scopes asked for). */
  credential: TokenCredential;
  /** Scopes the credential was asked for, in order. */
  tokenScopes: string[];
  requests: ReceivedRequest[];
  /** Rows accepted (status 204) and kept for a stream, in arrival order. */
  rows(stream?: string): Record<string, unknown>[];
  /** Rows answered 204 but dropped, as `dropRows` chose them. */
  dropped: Record<string, unknown>[];
  /** From now on, answer 204 but keep none of the rows `drop` picks (undefined: keep every row). */
  dropRows(drop: ((row: Record<string, unknown>) => boolean) | undefined): void;
  /** Answer the next `n` calls with 429 and `Retry-After: <seconds>`. */
  throttleNext(n: number, retryAfterSeconds: number): void;
  /** Answer the next `n` calls with `status`. */
  failNext(n: number, status: number): void;
  /** While on, every call gets 503 (no Retry-After), as in a regional outage. */
  outage(on: boolean): void;
  /** While on, calls are read and never answered (until `close`), as behind a network that drops replies. */
  silent(on: boolean): void;
  close(): Promise<void>;
}

export interface LogsIngestionServerOptions {
  ruleId?: string;
  /** Streams the DCR declares; others get 400 InvalidStream. */
  streams?: string[];
  /** The largest body taken, compressed or not (default MAX_BODY_BYTES, the service's): lower it to have a row refused as too large. */
  maxBodyBytes?: number;
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'x-ms-error-code': code, ...headers });
  res.end(body);
}

/** The body, or undefined once it passes `limit` bytes (the rest is drained unread). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size <= limit ? Buffer.concat(chunks) : undefined;
}

export async function startLogsIngestionServer(options: LogsIngestionServerOptions = {}): Promise<LogsIngestionTestServer> {
  const ruleId = options.ruleId ?? 'dcr-00000000000000000000000000000000';
  const streams = new Set(options.streams ?? ['Custom-WardenAlerts']);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const token = randomBytes(24).toString('base64url');
  const pems = await loopbackCertificate('warden-logs-ingestion-test');

  const received = new Map<string, Record<string, unknown>[]>();
  const requests: ReceivedRequest[] = [];
  const tokenScopes: string[] = [];
  let throttle = { n: 0, retryAfterSeconds: 0 };
  let failures = { n: 0, status: 500 };
  let down = false;
  let unanswered = false;
  let drop: ((row: Record<string, unknown>) => boolean) | undefined;
  const dropped: Record<string, unknown>[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const match = /^\/dataCollectionRules\/([^/]+)\/streams\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      sendError(res, 404, 'NotFound', `No such operation: ${req.method} ${url.pathname}`);
      return;
    }
    const [dcr, stream] = [decodeURIComponent(match[1]), decodeURIComponent(match[2])];
    const log: ReceivedRequest = {
      ruleId: dcr,
      stream,
      apiVersion: url.searchParams.get('api-version'),
      status: 0,
      gzip: /gzip/i.test(req.headers['content-encoding'] ?? ''),
      bytes: 0,
      uncompressedBytes: 0,
      rows: 0,
    };
    requests.push(log);
    const reply = (status: number, code: string, message: string, headers?: Record<string, string>) => {
      log.status = status;
      sendError(res, status, code, message, headers);
    };
    const body = await readBody(req, maxBodyBytes);
    if (unanswered) return;
    if (down) return reply(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
    if (req.headers.authorization !== `Bearer ${token}`) {
      return reply(401, 'InvalidToken', 'Authorization header missing or token invalid: a bearer token for https://monitor.azure.com is required.');
    }
    if (throttle.n > 0) {
      throttle.n--;
      return reply(429, 'TooManyRequests', 'Too many requests: retry after the interval in Retry-After.', {
        'retry-after': String(throttle.retryAfterSeconds),
      });
    }
    if (failures.n > 0) {
      failures.n--;
      return reply(failures.status, 'InjectedFailure', `Failure injected by the test (status ${failures.status}).`);
    }
    if (!log.apiVersion) return reply(400, 'MissingApiVersionParameter', 'The api-version query parameter is required.');
    if (dcr !== ruleId) return reply(404, 'NotFound', `Data collection rule with immutable Id '${dcr}' not found.`);
    if (!streams.has(stream)) return reply(400, 'InvalidStream', `The stream '${stream}' is not declared in the data collection rule '${dcr}'.`);
    const tooLarge = (n: number) =>
      reply(413, 'ContentLengthLimitExceeded', `Maximum allowed content length: ${maxBodyBytes} bytes. Provided content length: ${n} bytes.`);
    if (!body) return tooLarge(Number(req.headers['content-length'] ?? maxBodyBytes + 1));
    log.bytes = body.length;
    let text: Buffer;
    try {
      text = log.gzip ? gunzipSync(body, { maxOutputLength: maxBodyBytes + 1 }) : body;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(maxBodyBytes + 1);
      return reply(400, 'InvalidContentEncoding', `The body is not valid gzip: ${(err as Error).message}`);
    }
    log.uncompressedBytes = text.length;
    if (text.length > maxBodyBytes) return tooLarge(text.length);
    let rows: unknown;
    try {
      rows = JSON.parse(text.toString('utf8'));
    } catch (err) {
      return reply(400, 'InvalidPayload', `The body is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(rows) || rows.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))) {
      return reply(400, 'InvalidPayload', 'The body must be a JSON array of objects.');
    }
    log.rows = rows.length;
    log.status = 204;
    let list = received.get(stream);
    if (!list) received.set(stream, (list = []));
    for (const row of rows as Record<string, unknown>[]) (drop?.(row) ? dropped : list).push(row);
    res.writeHead(204).end();
  }

  const server: Server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'InternalServerError', String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('Logs Ingestion test server has no port');

  return {
    endpoint: `https://127.0.0.1:${address.port}`,
    ruleId,
    ca: pems.cert,
    credential: {
      getToken(scopes: string | string[]): Promise<AccessToken> {
        tokenScopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
        return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3600_000 });
      },
    },
    tokenScopes,
    requests,
    rows: (stream = 'Custom-WardenAlerts') => received.get(stream) ?? [],
    dropped,
    dropRows(pick) {
      drop = pick;
    },
    throttleNext(n, retryAfterSeconds) {
      throttle = { n, retryAfterSeconds };
    },
    failNext(n, status) {
      failures = { n, status };
    },
    outage(on) {
      down = on;
    },
    silent(on) {
      unanswered = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
