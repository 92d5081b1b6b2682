// Baseline: the same fastify + undici forwarding as jitgate, with no identity, policy, credential
// or logging. Whatever jitgate costs on top of this is the price of its decisions.
import { forwardTo, headerForwarder, serveProxy, upstreamPool } from './forwarding.js';

const pool = upstreamPool(process.argv[2] ?? '');
const forwardedHeaders = headerForwarder();

await serveProxy(async (req, res) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  await forwardTo(pool, { path: req.url ?? '/', method: req.method ?? 'GET', headers: forwardedHeaders(req), body: hasBody ? req : null }, res);
}, () => pool.close());
