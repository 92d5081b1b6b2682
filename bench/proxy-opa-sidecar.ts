// Comparison: the usual "OPA sidecar" design. Same fastify + undici forwarding and the same cached
// JWT verification as jitgate, but every decision is an HTTP call to `opa run --server` evaluating
// the same Rego (with the Go interpreter) on the same core.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Pool } from 'undici';
import { createAuthenticator, createDevIssuer, type IdentityConfig } from '../src/identity/index.js';
import { normalizeTarget } from '../src/proxy/index.js';
import { forwardTo, headerForwarder, serveProxy, upstreamPool } from './forwarding.js';

const [upstream, opaUrl, tokenFile] = process.argv.slice(2) as [string, string, string];
const dir = mkdtempSync(join(tmpdir(), 'jg-bench-opa-'));
const identity: IdentityConfig = { api_keys: [], client_certificates: [], dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), token_ttl_seconds: 3600, subjects: { alice: ['eng'] } } };
const authenticator = createAuthenticator(identity, { logger: pino({ level: 'warn' }) });
await authenticator.start();
const pool = upstreamPool(upstream);
const opa = new Pool(opaUrl, { connections: 64, pipelining: 1, keepAliveTimeout: 4000 });
// The caller's token is for this proxy, not for the upstream.
const forwardedHeaders = headerForwarder(['authorization']);
const now = Date.now();
const grants = ['g_1', 'g_2'].map((id) => ({
  id, role: 'writer', scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] },
  starts_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), expires_at_ns: (now + 3_600_000) * 1e6,
  approved_by: ['bob'], reason: 'benchmark', ticket: null, break_glass: false, request_id: `r_${id}`,
}));

// The token is on disk before LISTENING: bench/proxy.ts reads it as soon as it sees that line.
writeFileSync(tokenFile, await createDevIssuer(identity.dev_issuer).issue('alice', ['eng'], 3600));
await serveProxy(async (req, res) => {
  const subject = await authenticator.authenticate(req.headers);
  const target = normalizeTarget(req.url ?? '/', req.headers.host);
  const input = {
    request: { method: req.method, path: target.path, segments: target.segments, query: target.query, headers: { accept: req.headers.accept ?? '' }, host: req.headers.host ?? '' },
    subject, grants: subject.id === 'alice' ? grants : [],
    route: { name: 'demo', upstream, credentials: ['readonly', 'writer'] },
    now_ns: Date.now() * 1e6,
  };
  const decision = await opa.request({ path: '/v1/data/jitgate/authz', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) });
  const { result } = await decision.body.json() as { result?: { allow?: boolean; obligations?: { credential?: string } } };
  if (result?.allow !== true) {
    res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":"forbidden"}');
    return;
  }
  const headers = forwardedHeaders(req);
  headers.push('x-api-key', result.obligations?.credential === 'writer' ? 'bench-write-secret-2' : 'bench-read-secret-1');
  await forwardTo(pool, { path: target.path, method: req.method ?? 'GET', headers, body: null }, res);
}, async () => {
  await Promise.all([pool.close(), opa.close()]);
  rmSync(dir, { recursive: true, force: true });
});
