// Shared pieces for the data-path tests: the real policy engine built from the repo's policies,
// a recording upstream, in-memory grants/audit/decision-log ports that keep what they got, and a
// gateway wired from them with the dev issuer for tokens.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import type { AuditEntry, AuditRecord, AuditWriter, DecisionLogEvent, DecisionLogger } from '../../src/audit/index.js';
import type { GrantReader, SubjectKey } from '../../src/grants/index.js';
import { createAuthenticator, createDevIssuer, ReloadableAuthenticator, type DevIssuer, type IdentityConfig } from '../../src/identity/index.js';
import type { Metrics } from '../../src/observability/index.js';
import { buildBundle, requireOpa, type PolicyEvaluator, type PolicyGrant } from '../../src/policy/index.js';
import { wsFrame } from '../helpers/ws-frames.js';
import { CALLER_TIMEOUT_DEFAULTS, createProxyServer, type CallerTimeouts, type ProxyServer, type ProxyServerOptions, type RouteConfig } from '../../src/proxy/index.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let engine: Promise<PolicyEvaluator> | null = null;
/** The repository's sample policies, compiled by the real `opa build -t wasm`, loaded by opa-wasm. */
export function samplePolicy(): Promise<PolicyEvaluator> {
  engine ??= (async () => {
    const opaPath = await requireOpa();
    const built = await buildBundle({ dir: join(repoRoot, 'policies'), opaPath, revision: 'test-revision' });
    return built.engine;
  })();
  return engine;
}

/** Compiles a policy folder given as files (for policies that misbehave on purpose). */
export async function policyFrom(files: Record<string, string>): Promise<PolicyEvaluator> {
  const dir = mkdtempSync(join(tmpdir(), 'jg-policy-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const built = await buildBundle({ dir, opaPath: await requireOpa(), revision: 'broken-revision' });
  return built.engine;
}

/**
 * An authz policy that allows exactly when every line of `conditions` holds (Rego body lines),
 * denies otherwise with `reason`, and sends the read-only credential; elevation never allows.
 */
export function policyAllowingIf(conditions: readonly string[], reason: string): Promise<PolicyEvaluator> {
  return policyFrom({
    'authz.rego': [
      'package jitgate.authz', '',
      'default allow := false', '',
      'allow if {', ...conditions.map((c) => `\t${c}`), '}', '',
      `default reason := ${JSON.stringify(reason)}`, '',
      'obligations := {"credential": "readonly"}', '',
    ].join('\n'),
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
}

export class MemoryGrants implements GrantReader {
  ready = true;
  readonly bySubject = new Map<string, PolicyGrant[]>();
  /** The last set handed out per subject: the same array again while its grants stay the same (GrantReader's contract). */
  readonly #handedOut = new Map<string, PolicyGrant[]>();
  /** `add` gives people grants; a service named like one gets none of theirs (GrantReader's contract). */
  activeGrants(subject: SubjectKey, nowMs: number): PolicyGrant[] {
    const live = subject.kind === 'user' ? (this.bySubject.get(subject.id) ?? []).filter((g) => g.expires_at_ns > nowMs * 1e6) : [];
    const key = `${subject.kind}:${subject.id}`;
    const last = this.#handedOut.get(key);
    if (last && last.length === live.length && last.every((g, i) => g === live[i])) return last;
    this.#handedOut.set(key, live);
    return live;
  }
  revoke(grantId: string): void {
    for (const [subject, grants] of this.bySubject) this.bySubject.set(subject, grants.filter((g) => g.id !== grantId));
  }
  /** One process, one map: what activeGrants hands out is what holds. */
  stillActive(grantIds: readonly string[], nowMs: number): Promise<boolean> {
    const live = new Set([...this.bySubject.values()].flat().filter((g) => g.expires_at_ns > nowMs * 1e6).map((g) => g.id));
    return Promise.resolve(grantIds.every((id) => live.has(id)));
  }
  add(subjectId: string, role: string, seconds: number, scope: PolicyGrant['scope'] = null): PolicyGrant {
    const now = Date.now();
    const grant: PolicyGrant = {
      id: `g_${randomUUID().slice(0, 8)}`,
      role,
      scope,
      starts_at: new Date(now).toISOString(),
      expires_at: new Date(now + seconds * 1000).toISOString(),
      expires_at_ns: (now + seconds * 1000) * 1e6,
      approved_by: ['bob'],
      reason: 'test',
      ticket: null,
      break_glass: false,
      request_id: `r_${randomUUID().slice(0, 8)}`,
    };
    this.bySubject.set(subjectId, [...(this.bySubject.get(subjectId) ?? []), grant]);
    return grant;
  }
}

export class MemoryAudit implements AuditWriter {
  readonly entries: AuditEntry[] = [];
  failing = false;
  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.failing) return Promise.reject(new Error('disk full'));
    this.entries.push(entry);
    return Promise.resolve({ ...entry, seq: this.entries.length, at: new Date().toISOString(), prev_hash: '', hash: '' });
  }
  appendWithin(): Promise<AuditRecord[]> {
    return Promise.reject(new Error('not used by the data path'));
  }
}

export class MemoryDecisionLog implements DecisionLogger {
  readonly events: Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>[] = [];
  log(event: Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>): void {
    this.events.push(event);
  }
}

export const noMetrics: Metrics = {
  proxyRequest() {}, decisionLatency() {}, decisionMemoHit() {}, upstreamLatency() {}, policyReload() {}, policyRevision() {},
  decisionLogDropped() {}, webhookDropped() {}, storeError() {}, policyBodyRefused() {}, connectionDropped() {}, shadowDecision() {}, setGauges() {},
};

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
  complete: boolean;
  /** The gateway closed the upstream connection before a response was sent. */
  abandoned: boolean;
  /** Response body bytes the upstream handed to its socket (the streaming endpoints). */
  sent: number;
}

/** One 64 KiB chunk of response body, with the read-only secret spanning the chunk boundary. */
export function streamChunk(secret: string): Buffer {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  chunk.write(secret.slice(0, 5), chunk.length - 5);
  chunk.write(secret.slice(5), 0);
  return chunk;
}

/** An upstream that records every request it sees and echoes its headers back (in headers and body). */
export async function recordingUpstream(): Promise<{ server: Server; url: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '', complete: false, abandoned: false, sent: 0 };
    seen.push(entry);
    res.on('close', () => { if (!res.writableFinished) entry.abandoned = true; });
    if (entry.url.includes('__hang')) return; // never answers
    if (entry.url.includes('__forge')) {
      res.writeHead(200, { 'x-jitgate-decision-id': 'forged-by-upstream', 'x-request-id': 'forged-too', connection: 'keep-alive, x-secret-hop,X-Other-Hop ', 'x-secret-hop': '1', 'x-other-hop': '2' });
      res.end('forged');
      return;
    }
    if (entry.url.includes('__redirect')) {
      // A redirect to `to`, in Location, Content-Location and Refresh; with `refresh`, a page that names it in Refresh only.
      const params = new URL(entry.url, 'http://upstream').searchParams;
      const to = params.get('to') ?? '/';
      const refresh = `0; url='${to}'`;
      res.writeHead(params.has('refresh') ? 200 : 302, params.has('refresh') ? { refresh, 'content-length': '0' } : { location: to, 'content-location': to, refresh, 'content-length': '0' });
      res.end();
      return;
    }
    if (entry.url.includes('__cookies')) {
      // Sets each `set` parameter as a cookie, as an upstream that knows itself by its own name and base path would.
      const params = new URL(entry.url, 'http://upstream').searchParams;
      res.writeHead(200, { 'set-cookie': params.getAll('set'), 'content-length': '0' });
      res.end();
      return;
    }
    if (entry.url.includes('__drip')) {
      // An event stream: a tick every `every` ms (default 100), then `done` after `ms` (default: until the gateway leaves).
      const params = new URL(entry.url, 'http://upstream').searchParams;
      const ms = Number(params.get('ms') ?? '60000');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      const tick = setInterval(() => { res.write('data: tick\n\n'); }, Number(params.get('every') ?? '100'));
      const done = setTimeout(() => { clearInterval(tick); res.end('data: done'); }, ms);
      res.on('close', () => { clearInterval(tick); clearTimeout(done); });
      return;
    }
    if (entry.url.includes('__credential')) {
      // Reports the credential it got in parts, as whoami answers and error messages do: the token
      // without its scheme, Basic's pair decoded and its password, in headers URL- and form-encoded
      // and in the body as JSON.
      const auth = req.headers.authorization ?? '';
      const token = auth.replace(/^(Bearer|Basic) /, '');
      const parts = [token];
      if (auth.startsWith('Basic ')) {
        const pair = Buffer.from(token, 'base64').toString('utf8');
        parts.push(pair, pair.slice(pair.indexOf(':') + 1));
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-credential': parts.map(encodeURIComponent).join(' '),
        'x-credential-form': new URLSearchParams(parts.map((p): [string, string] => ['p', p])).toString(),
      });
      res.end(JSON.stringify({ parts }));
      return;
    }
    if (entry.url.includes('__compressed')) {
      // Compresses its echo of the credential whatever the request accepts: `coding` (gzip, deflate,
      // br, or any name, then compressed with gzip), `repeat` times over, with `status` (200), an
      // entity tag; `corrupt`: its last half garbled; `empty`: 204, no body.
      const params = new URL(entry.url, 'http://upstream').searchParams;
      if (params.has('empty')) {
        res.writeHead(204, { 'content-encoding': 'gzip' });
        res.end();
        return;
      }
      const coding = params.get('coding') ?? 'gzip';
      const text = `key: ${String(req.headers['x-api-key'] ?? req.headers.authorization ?? '')}\n`.repeat(Number(params.get('repeat') ?? '1'));
      const body = coding === 'br' ? brotliCompressSync(text) : coding === 'deflate' ? deflateSync(text) : gzipSync(text);
      if (params.has('corrupt')) body.fill(7, body.length >> 1);
      res.writeHead(Number(params.get('status') ?? '200'), { 'content-type': 'text/plain', 'content-encoding': coding, 'content-length': String(body.length), etag: '"v1"' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (entry.url.includes('__split')) {
      // The injected secret, echoed across two body chunks with a pause between them.
      const secret = String(req.headers['x-api-key'] ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`start:${secret.slice(0, 5)}`);
      setTimeout(() => { res.end(`${secret.slice(5)}:end`); }, 20);
      return;
    }
    if (entry.url.includes('__stream')) {
      // `chunks` 64 KiB chunks as fast as the gateway takes them (writing on only after 'drain'),
      // then the end; with `cut`, the connection is dropped halfway instead; with `chunked`, no
      // Content-Length says how long the body is.
      const params = new URL(entry.url, 'http://upstream').searchParams;
      const chunks = Number(params.get('chunks') ?? '16');
      const cut = params.has('cut');
      const chunk = streamChunk(String(req.headers['x-api-key'] ?? ''));
      const length = params.has('chunked') ? {} : { 'content-length': String(chunks * chunk.length) };
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...length });
      let n = 0;
      const pump = (): void => {
        while (n < chunks) {
          if (cut && n === chunks / 2) {
            res.socket?.destroy();
            return;
          }
          n++;
          entry.sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    const readAndEcho = (): void => {
      req.setEncoding('utf8');
      req.on('data', (c: string) => { entry.body += c; });
      req.on('end', () => {
        entry.complete = true;
        const echo = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: entry.body });
        const h: Record<string, string> = { 'content-type': 'application/json' };
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && /^[\x20-\x7e]*$/.test(v)) h[`x-echo-${k}`] = v;
        res.writeHead(200, h);
        res.end(echo);
      });
    };
    req.on('error', () => { /* aborted by the gateway */ });
    // `__slowread`: the body is left unread for a while first (an upstream busy elsewhere).
    if (entry.url.includes('__slowread')) setTimeout(readAndEcho, Number(new URL(entry.url, 'http://upstream').searchParams.get('ms') ?? '1000'));
    else readAndEcho();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => { r(); }); }),
  };
}

export const SECRETS = {
  DEMO_UPSTREAM_READ_KEY: 'read-secret-3f9a1c',
  DEMO_UPSTREAM_WRITE_KEY: 'write-secret-77b2e0',
  DEMO_UPSTREAM_ADMIN_KEY: 'admin-secret-c41d9e',
  /** Characters that JSON and URLs escape, so an echo of it can differ from the secret. */
  DEMO_UPSTREAM_ODD_KEY: 'odd "key"\\/+&= 5e8b',
  /** Beyond ASCII: header values carry it as UTF-8 bytes read as Latin-1, Python's JSON as \\u escapes. */
  DEMO_UPSTREAM_UNICODE_KEY: 'pässwörd-Ünïcode-42',
};

export function demoRoute(upstream: string, overrides: Partial<RouteConfig> = {}): RouteConfig {
  return {
    name: 'demo',
    match: { path_prefix: '/' },
    upstream,
    credentials: {
      readonly: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_UPSTREAM_READ_KEY' },
      writer: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_UPSTREAM_WRITE_KEY' },
      admin: { type: 'bearer', from_env: 'DEMO_UPSTREAM_ADMIN_KEY' },
    },
    default_credential: 'readonly',
    timeouts: { connect_ms: 2000, headers_ms: 5000, body_ms: 5000 },
    body_limit_bytes: 1024,
    websocket: false,
    recheck_seconds: 60,
    policy_headers: ['content-type', 'accept', 'user-agent', 'x-request-id'],
    ...overrides,
  };
}

export const SERVICE_KEY = 'jg_reporting.demo-only-service-key';

export function identityConfig(keyFile: string): IdentityConfig {
  return {
    api_keys: [{ id: 'reporting', subject: 'svc-reporting', groups: ['services', 'reporting'], sha256: 'ec8a1ef2f34352331da894c920e8c451bd06438486f870b7b7346b2a1f233bd6' }],
    client_certificates: [],
    dev_issuer: { enabled: true, key_file: keyFile, token_ttl_seconds: 600, subjects: { alice: ['eng'], bob: ['eng', 'approvers'], dave: ['admins', 'approvers'] } },
  };
}

export interface Gateway {
  proxy: ProxyServer;
  url: string;
  port: number;
  upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  grants: MemoryGrants;
  audit: MemoryAudit;
  decisions: MemoryDecisionLog;
  issuer: DevIssuer;
  keyFile: string;
  logLines: string[];
  authenticator: ReloadableAuthenticator;
  logger: Logger;
  token(sub: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Options of the proxy server a test may set; `tls` serves HTTPS (url then starts with https://),
 * `timeouts` replace some of the defaults.
 */
type ProxyTestOptions = Partial<Pick<ProxyServerOptions, 'maxHeaderBytes' | 'consoleUrl' | 'trustedProxies' | 'trustedProxyHeader' | 'tls' | 'metrics' | 'maxConnections' | 'policyBodyBudgetBytes' | 'policyBodyCallerShareBytes'>> & { timeouts?: Partial<CallerTimeouts> };

export async function startGateway(opts: {
  policy?: PolicyEvaluator; routes?: (upstream: string) => RouteConfig[]; identity?: (keyFile: string) => IdentityConfig;
} & ProxyTestOptions = {}): Promise<Gateway> {
  const { policy, routes, identity, timeouts, ...proxyOptions } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'jg-proxy-'));
  const keyFile = join(dir, 'dev-issuer.jwk.json');
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(line); } });
  const upstream = await recordingUpstream();
  const grants = new MemoryGrants();
  const audit = new MemoryAudit();
  const decisions = new MemoryDecisionLog();
  const idCfg = (identity ?? identityConfig)(keyFile);
  // As the gateway holds it: a reload may replace the identity settings behind it.
  const authenticator = new ReloadableAuthenticator(createAuthenticator(idCfg, { logger }));
  await authenticator.start();
  const proxy = createProxyServer({
    routes: routes ? routes(upstream.url) : [demoRoute(upstream.url)],
    policy: policy ?? (await samplePolicy()),
    grants,
    authenticator,
    audit,
    decisionLog: decisions,
    metrics: noMetrics,
    logger,
    env: { ...SECRETS },
    clientTimeouts: { ...CALLER_TIMEOUT_DEFAULTS, ...timeouts },
    ...proxyOptions,
  });
  const { port } = await proxy.listen('127.0.0.1', 0);
  const issuer = createDevIssuer(idCfg.dev_issuer);
  return {
    proxy, url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, upstream, grants, audit, decisions, issuer, keyFile, logLines, authenticator, logger,
    token: (sub) => issuer.issue(sub),
    async close() {
      await proxy.close();
      authenticator.stop();
      await upstream.close();
    },
  };
}

/** Everything a secret could leak into: responses, audit, decision logs, log lines. */
export function leaks(g: Gateway, ...texts: string[]): string[] {
  const haystacks = [...texts, JSON.stringify(g.audit.entries), JSON.stringify(g.decisions.events), ...g.logLines];
  return Object.values(SECRETS).filter((s) => haystacks.some((h) => h.includes(s)));
}

/**
 * Sends a request head that asks `Expect: 100-continue`, and its body only once the gateway
 * answers `100 Continue`, as curl does for large uploads. Returns what the gateway wrote and
 * whether it invited the body.
 */
export function sendExpectingContinue(port: number, head: string, body: string): Promise<{ text: string; invited: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let invited = false;
    const guard = setTimeout(() => { sock.destroy(); }, 5000);
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!invited && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        invited = true;
        sock.write(body);
      }
    });
    sock.on('error', (e) => { clearTimeout(guard); if (text) resolve({ text, invited }); else reject(e); });
    sock.on('close', () => { clearTimeout(guard); resolve({ text, invited }); });
    sock.write(`${head.replace(/\r\n$/, '')}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}

/** Makes the gateway's upstream accept WebSocket upgrades and end each with a text frame of `echo:` and the first bytes it gets; returns the X-Api-Key each upgrade carried. */
export function echoWebSockets(g: Gateway): (string | undefined)[] {
  const keys: (string | undefined)[] = [];
  g.upstream.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    keys.push(req.headers['x-api-key'] as string | undefined);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    socket.on('data', (d: Buffer) => { socket.end(wsFrame(Buffer.concat([Buffer.from('echo:'), d]))); });
  });
  return keys;
}

/** Upgrades GET /api/stream as the bearer of `token`, sends `ping` `pauseMs` after the answer, and returns all the gateway wrote until it closed. */
export function webSocketPing(port: number, token: string, pauseMs = 0): Promise<string> {
  return new Promise<string>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\r\n\r\n') && !out.includes('echo:')) setTimeout(() => { sock.write('ping'); }, pauseMs);
    });
    sock.on('close', () => { resolve(out); });
    sock.write(`GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  });
}
