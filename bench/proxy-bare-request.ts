// Reference: the usual fastify + undici proxy, forwarding with `Pool.request()` (a Readable body
// and a promise per response) instead of jitgate's dispatch relay. Shows what jitgate's forwarding
// saves; the targets are checked against bench/proxy-bare.ts, which forwards as jitgate does.
import { headerForwarder, relayResponse, serveProxy, upstreamPool } from './forwarding.js';

const pool = upstreamPool(process.argv[2] ?? '');
const forwardedHeaders = headerForwarder();

await serveProxy(async (req, res) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  const up = await pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers: forwardedHeaders(req), body: hasBody ? req : null });
  await relayResponse(up, res);
}, () => pool.close());
