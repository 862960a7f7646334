/**
 * A stand-in for the Log Analytics query API, for the real `LogsQueryClient` (and a spawned
 * `warden backtest`) to talk to: `POST /v1/workspaces/{id}/query` with `{query, timespan}` over
 * HTTPS with a certificate made at start, a bearer token required (401 without), answers in the
 * service's shape (`{"tables":[{"name":"PrimaryResult","columns":[{name,type}],"rows":[[…]]}]}`).
 *
 * It evaluates the two query shapes Warden emits —
 *   `<Table> | where TimeGenerated >= datetime(a) and TimeGenerated < datetime(b)
 *    [| where ResourceProvider in ("X", …)] | order by TimeGenerated asc` (backtest), and
 *   `<Table> | where AlertId in ("…", …) | distinct AlertId` (the delivery audit)
 * — intersected with `timespan`, like the service; other queries get the service's 400 syntax
 * error and unknown tables its SEM0100 semantic error. A row cap stands in for the ~500k-row /
 * 64 MB limit: a larger result is cut, with the PartialError the service sends alongside the rows.
 * Tests can make it throttle (429 + Retry-After) or fail. For spawned processes it also serves an
 * App Service managed-identity token endpoint (plain HTTP, as on App Service), which
 * DefaultAzureCredential uses when IDENTITY_ENDPOINT and IDENTITY_HEADER are set.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { TableRows } from './log-analytics-rows.js';
import { loopbackCertificate } from './loopback-certificate.js';

export interface QueryRequest {
  workspace: string;
  query: string;
  timespan?: string;
  status: number;
  table?: string;
  from?: string;
  to?: string;
  rows: number;
  /** The answer was cut at the row cap (a PartialError). */
  cut: boolean;
  at: number;
}

export interface LogAnalyticsTestServer {
  /** `https://127.0.0.1:<port>`: what `--endpoint` takes (the client adds `/v1`). */
  url: string;
  /** `https://127.0.0.1:<port>/v1`: the `endpoint` option of LogsQueryClient. */
  endpoint: string;
  workspaceId: string;
  /** PEM of the server's self-signed certificate: what the client must trust. */
  ca: string;
  /** A credential whose token the server accepts. */
  credential: TokenCredential;
  /** Environment for a spawned process to take tokens from the managed-identity endpoint (it must also trust `ca`: NODE_EXTRA_CA_CERTS). */
  childEnv: Record<string, string>;
  requests: QueryRequest[];
  /** Answer the next `n` queries with 429 and `Retry-After: <seconds>`. */
  throttleNext(n: number, retryAfterSeconds: number): void;
  /** Answer the next `n` queries with `status`. */
  failNext(n: number, status: number): void;
  /** Change the most rows one answer carries. */
  setRowCap(rows: number): void;
  close(): Promise<void>;
}

export interface LogAnalyticsServerOptions {
  workspaceId?: string;
  /** The workspace's tables, by name; a function is asked again at every query (tables that fill up during a test). */
  tables: Iterable<TableRows> | (() => Iterable<TableRows>);
  /** Most rows in one answer before it is cut (default 500,000, the service's limit). */
  rowCap?: number;
  /** The bearer token to accept (default one made at start): lets one test credential reach this server and another stand-in. */
  token?: string;
}

const AUDIT_QUERY = /^(\w+) \| where AlertId in \(((?:"[^"]*"(?:, )?)+)\) \| distinct AlertId$/;
const QUERY =
  /^(\w+) \| where TimeGenerated >= datetime\(([^)]+)\) and TimeGenerated < datetime\(([^)]+)\)(?: \| where ResourceProvider in \(((?:"[^"]*"(?:, )?)+)\))? \| order by TimeGenerated asc$/;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function serviceError(code: string, message: string, innererror?: unknown) {
  return { error: { message, code, correlationId: randomUUID(), ...(innererror ? { innererror } : {}) } };
}

function missingTable(name: string) {
  return serviceError('BadArgumentError', 'The request had some invalid properties', {
    code: 'SemanticError',
    message: 'A semantic error occurred.',
    innererror: { code: 'SEM0100', message: `'where' operator: Failed to resolve table or column expression named '${name}'` },
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** `start/end` ISO interval (or `start/duration`, `duration`), as the query API takes `timespan`. */
function timespanBounds(timespan: string | undefined): [number, number] {
  if (!timespan) return [-Infinity, Infinity];
  const [a, b] = timespan.split('/');
  const from = Date.parse(a);
  const to = b === undefined ? Infinity : Date.parse(b);
  return [Number.isFinite(from) ? from : -Infinity, Number.isFinite(to) ? to : Infinity];
}

export async function startLogAnalyticsServer(options: LogAnalyticsServerOptions): Promise<LogAnalyticsTestServer> {
  const workspaceId = options.workspaceId ?? randomUUID();
  const tableNamed = (name: string): TableRows | undefined => {
    const all = typeof options.tables === 'function' ? options.tables() : options.tables;
    for (const t of all) if (t.name.toLowerCase() === name.toLowerCase()) return t;
    return undefined;
  };
  let rowCap = options.rowCap ?? 500_000;
  const token = options.token ?? randomBytes(24).toString('base64url');
  const identityHeader = randomBytes(12).toString('hex');
  const pems = await loopbackCertificate('warden-log-analytics-test');
  const requests: QueryRequest[] = [];
  let throttle = { n: 0, retryAfterSeconds: 0 };
  let failures = { n: 0, status: 500 };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const match = /^\/v1\/workspaces\/([^/]+)\/query$/.exec(url.pathname);
    if (req.method !== 'POST' || !match)
      return send(res, 404, serviceError('PathNotFoundError', `The requested path does not exist: ${req.method} ${url.pathname}`));
    const log: QueryRequest = { workspace: decodeURIComponent(match[1]), query: '', status: 0, rows: 0, cut: false, at: Date.now() };
    requests.push(log);
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      log.status = status;
      send(res, status, body, headers);
    };
    let body: { query?: string; timespan?: unknown };
    try {
      body = (await readJson(req)) as typeof body;
    } catch {
      return reply(400, serviceError('BadArgumentError', 'The request body is not valid JSON.'));
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      return reply(401, serviceError('AuthorizationRequiredError', 'Valid authentication was not provided'), {
        'www-authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"',
      });
    }
    if (throttle.n > 0) {
      throttle.n--;
      return reply(429, serviceError('ThrottledError', 'Your request was throttled: retry after the interval in Retry-After.'), {
        'retry-after': String(throttle.retryAfterSeconds),
      });
    }
    if (failures.n > 0) {
      failures.n--;
      return reply(failures.status, serviceError('InjectedFailure', `Failure injected by the test (status ${failures.status}).`));
    }
    if (log.workspace !== workspaceId) return reply(404, serviceError('WorkspaceNotFoundError', `Workspace ${log.workspace} not found.`));
    log.query = String(body.query ?? '');
    log.timespan = typeof body.timespan === 'string' ? body.timespan : undefined;
    const audit = AUDIT_QUERY.exec(log.query);
    if (audit) {
      const [, name, idList] = audit;
      log.table = name;
      const table = tableNamed(name);
      if (!table) return reply(400, missingTable(name));
      const ids = new Set([...idList.matchAll(/"([^"]*)"/g)].map((m) => m[1]));
      const [from, to] = timespanBounds(log.timespan);
      const timeAt = table.columns.findIndex((c) => c.name === 'TimeGenerated');
      const idAt = table.columns.findIndex((c) => c.name === 'AlertId');
      const found = [
        ...new Set(
          table.rows
            .filter((row) => {
              const t = Date.parse(String(row[timeAt]));
              return t >= from && t < to && ids.has(String(row[idAt]));
            })
            .map((row) => String(row[idAt])),
        ),
      ];
      log.rows = found.length;
      return reply(200, { tables: [{ name: 'PrimaryResult', columns: [{ name: 'AlertId', type: 'string' }], rows: found.map((id) => [id]) }] });
    }
    const q = QUERY.exec(log.query);
    if (!q) {
      return reply(
        400,
        serviceError('BadArgumentError', 'The request had some invalid properties', {
          code: 'SyntaxError',
          message: 'A recognition error occurred in the query.',
          innererror: { code: 'SYN0002', message: `Query could not be parsed (this test server reads only Warden's slice query): ${log.query}` },
        }),
      );
    }
    const [, name, a, b, providerList] = q;
    log.table = name;
    log.from = a;
    log.to = b;
    const table = tableNamed(name);
    if (!table) return reply(400, missingTable(name));
    const [spanFrom, spanTo] = timespanBounds(log.timespan);
    const from = Math.max(Date.parse(a), spanFrom);
    const to = Math.min(Date.parse(b), spanTo);
    const timeAt = table.columns.findIndex((c) => c.name === 'TimeGenerated');
    const providerAt = table.columns.findIndex((c) => c.name === 'ResourceProvider');
    const providers = providerList ? new Set([...providerList.matchAll(/"([^"]*)"/g)].map((m) => m[1])) : undefined;
    const rows = table.rows
      .map((row) => ({ row, t: Date.parse(String(row[timeAt])) }))
      .filter(({ row, t }) => t >= from && t < to && (!providers || providers.has(String(row[providerAt]))))
      .sort((x, y) => x.t - y.t)
      .map(({ row }) => row);
    log.cut = rows.length > rowCap;
    log.rows = Math.min(rows.length, rowCap);
    const result: Record<string, unknown> = { tables: [{ name: 'PrimaryResult', columns: table.columns, rows: rows.slice(0, rowCap) }] };
    // What the service sends with a result cut at its limits (status 200, the rows it has, and this error).
    if (log.cut) {
      result.error = {
        code: 'PartialError',
        message: 'There were some errors when processing your query.',
        details: [
          {
            code: 'EngineError',
            message: 'Something went wrong processing your query on the server.',
            innererror: {
              code: '-2133196797',
              message: `Query result set has exceeded the internal record count limit ${rowCap} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)`,
              severity: 2,
              severityName: 'Error',
            },
          },
        ],
      };
    }
    reply(200, result);
  }

  const server: Server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, serviceError('InternalServerError', String(err)));
      else res.destroy();
    });
  });
  // App Service managed identity: GET ?resource=…&api-version=2019-08-01 with the X-IDENTITY-HEADER secret.
  const identity: HttpServer = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.headers['x-identity-header'] !== identityHeader)
      return send(res, 401, { error: 'invalid_request', error_description: 'X-IDENTITY-HEADER missing or wrong' });
    const resource = url.searchParams.get('resource') ?? '';
    send(res, 200, { access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: 'Bearer', client_id: randomUUID() });
  });
  const listen = (s: Server | HttpServer) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const address = s.address();
        if (!address || typeof address === 'string') reject(new Error('Log Analytics test server has no port'));
        else resolve(address.port);
      });
    });
  const [port, identityPort] = await Promise.all([listen(server), listen(identity)]);
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    endpoint: `${url}/v1`,
    workspaceId,
    ca: pems.cert,
    credential: {
      getToken(): Promise<AccessToken> {
        return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3600_000 });
      },
    },
    childEnv: { IDENTITY_ENDPOINT: `http://127.0.0.1:${identityPort}/msi/token`, IDENTITY_HEADER: identityHeader },
    requests,
    throttleNext(n, retryAfterSeconds) {
      throttle = { n, retryAfterSeconds };
    },
    failNext(n, status) {
      failures = { n, status };
    },
    setRowCap(rows) {
      rowCap = rows;
    },
    close: () =>
      Promise.all(
        [server, identity].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      ).then(() => undefined),
  };
}
