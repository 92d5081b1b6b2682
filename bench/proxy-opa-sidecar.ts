// Comparison: the usual "OPA sidecar" design. Same fastify + undici forwarding and the same cached
// JWT verification as jitgate, but every decision is an HTTP call to `opa run --server` evaluating
// the same Rego (with the Go interpreter) on the same core.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Fastify from 'fastify';
import pino from 'pino';
import { Pool } from 'undici';
import { createAuthenticator, createDevIssuer, type IdentityConfig } from '../src/identity/index.js';
import { normalizeTarget } from '../src/proxy/index.js';

const [upstream, opaUrl, tokenFile] = process.argv.slice(2) as [string, string, string];
const dir = mkdtempSync(join(tmpdir(), 'jg-bench-opa-'));
const identity: IdentityConfig = { api_keys: [], dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), token_ttl_seconds: 3600, subjects: { alice: ['eng'] } } };
const authenticator = createAuthenticator(identity, { logger: pino({ level: 'warn' }) });
await authenticator.start();
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4000 });
const opa = new Pool(opaUrl, { connections: 64, pipelining: 1, keepAliveTimeout: 4000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
const now = Date.now();
const grants = ['g_1', 'g_2'].map((id) => ({
  id, role: 'writer', scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] },
  starts_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), expires_at_ns: (now + 3_600_000) * 1e6,
  approved_by: ['bob'], reason: 'benchmark', ticket: null, break_glass: false, request_id: `r_${id}`,
}));

const app = Fastify({ logger: false, exposeHeadRoutes: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_req, _payload, done) => { done(null); });
app.route({
  method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  url: '*',
  async handler(request, reply) {
    reply.hijack();
    const req = request.raw;
    const res = reply.raw;
    try {
      const subject = await authenticator.authenticate(req.headers);
      const target = normalizeTarget(req.url!, req.headers.host);
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
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase();
        if (!HOP.has(name)) headers.push(name, req.rawHeaders[i + 1]!);
      }
      headers.push('x-api-key', result.obligations?.credential === 'writer' ? 'bench-write-secret-2' : 'bench-read-secret-1');
      const up = await pool.request({ path: target.path, method: req.method as 'GET', headers, body: null });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode, out);
      await pipeline(up.body, res);
    } catch {
      if (!res.headersSent) res.writeHead(503).end();
      else res.destroy();
    }
  },
});
await app.listen({ host: '127.0.0.1', port: 0 });
writeFileSync(tokenFile, await createDevIssuer(identity.dev_issuer).issue('alice', ['eng'], 3600));
process.stdout.write(`LISTENING ${(app.server.address() as AddressInfo).port}\n`);
process.on('SIGTERM', () => {
  void app.close().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
