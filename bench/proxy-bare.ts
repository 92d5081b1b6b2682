// Baseline: the same fastify + undici forwarding as jitgate, with no identity, policy, credential
// or logging. Whatever jitgate costs on top of this is the price of its decisions.
import { headerForwarder, relayResponse, serveProxy, upstreamPool } from './forwarding.js';

const pool = upstreamPool(process.argv[2] ?? '');
const forwardedHeaders = headerForwarder();

await serveProxy(async (req, res) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  const up = await pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers: forwardedHeaders(req), body: hasBody ? req : null });
  await relayResponse(up, res);
}, () => pool.close());
