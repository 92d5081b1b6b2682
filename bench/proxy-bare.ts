// Baseline: the same fastify + undici forwarding as jitgate, with no identity, policy, credential
// or logging. Whatever jitgate costs on top of this is the price of its decisions.
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Pool } from 'undici';

const upstream = process.argv[2]!;
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

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
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (!HOP.has(name)) headers.push(name, req.rawHeaders[i + 1]!);
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    try {
      const up = await pool.request({ path: req.url!, method: req.method as 'GET', headers, body: hasBody ? req : null });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode, out);
      // Same hand-rolled relay as jitgate (src/proxy/server.ts), minus the secret masking.
      await new Promise<void>((resolve) => {
        const onDrain = () => { up.body.resume(); };
        up.body.on('data', (chunk: Buffer) => { if (!res.write(chunk)) up.body.pause(); });
        up.body.once('end', () => { res.off('drain', onDrain); res.end(() => { resolve(); }); });
        up.body.once('error', () => { res.destroy(); resolve(); });
        res.on('drain', onDrain);
        res.once('close', () => { if (!res.writableFinished) { up.body.destroy(); resolve(); } });
      });
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    }
  },
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`LISTENING ${(app.server.address() as AddressInfo).port}\n`);
process.on('SIGTERM', () => { void app.close().then(() => pool.close()).then(() => process.exit(0)); });
