// The forwarding the comparison proxies share (bench/proxy-bare.ts, bench/proxy-opa-sidecar.ts):
// fastify taking every method and path with bodies left unread, an undici Pool upstream, and
// jitgate's own relay (src/proxy/relay.ts, undici's dispatch handler interface) minus its secret
// masking. Whatever differs between those proxies and jitgate is then what they decide, not how
// they forward. `relayResponse` is the usual `Pool.request()` way, for the reference row
// bench/proxy-bare-request.ts.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Pool, type Dispatcher } from 'undici';
import { relayUpstream, type RelayOptions } from '../src/proxy/index.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

export function upstreamPool(url: string): Pool {
  return new Pool(url, { connections: 128, pipelining: 1, keepAliveTimeout: 4000 });
}

/** Makes the function giving the caller's headers as a flat list, without hop-by-hop ones and `drop`. */
export function headerForwarder(drop: readonly string[] = []): (req: IncomingMessage) => string[] {
  const skip = new Set([...HOP_BY_HOP, ...drop]);
  return (req) => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = (req.rawHeaders[i] ?? '').toLowerCase();
      if (!skip.has(name)) headers.push(name, req.rawHeaders[i + 1] ?? '');
    }
    return headers;
  };
}

function withoutHopByHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string' || Array.isArray(v)) { if (!HOP_BY_HOP.has(k)) out[k] = v; }
  return out;
}

/** jitgate's limit on callers that stop reading; no session to watch (the baseline decides nothing). */
const RELAY: RelayOptions = { stallMs: 60_000, lingerAtMs: Infinity, linger: null, maskedOnly: false, headersMs: 30_000 };

/** Sends the request upstream and the answer to the caller as jitgate does (hop-by-hop headers removed). */
export async function forwardTo(pool: Pool, options: Dispatcher.DispatchOptions, res: ServerResponse): Promise<void> {
  await relayUpstream(pool, options, res, null, withoutHopByHop, RELAY);
}

/** Sends a `Pool.request()` answer to the caller: its headers (hop-by-hop removed) and its body, with backpressure. */
export async function relayResponse(up: Dispatcher.ResponseData, res: ServerResponse): Promise<void> {
  res.writeHead(up.statusCode, withoutHopByHop(up.headers));
  await new Promise<void>((resolve) => {
    const onDrain = (): void => { up.body.resume(); };
    up.body.on('data', (chunk: Buffer) => { if (!res.write(chunk)) up.body.pause(); });
    up.body.once('end', () => { res.off('drain', onDrain); res.end(() => { resolve(); }); });
    up.body.once('error', () => { res.destroy(); resolve(); });
    res.on('drain', onDrain);
    res.once('close', () => { if (!res.writableFinished) { up.body.destroy(); resolve(); } });
  });
}

/**
 * A fastify server handing every request to `handle` on loopback; prints `LISTENING <port>` for
 * bench/proxy.ts and closes on SIGTERM (then runs `cleanup`). An error before the answer is a 502.
 */
export async function serveProxy(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, cleanup: () => Promise<void> | void = () => undefined): Promise<void> {
  const app = Fastify({ logger: false, exposeHeadRoutes: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => { done(null); });
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '*',
    async handler(request, reply) {
      reply.hijack();
      const res = reply.raw;
      try {
        await handle(request.raw, res);
      } catch {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      }
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`LISTENING ${String((app.server.address() as AddressInfo).port)}\n`);
  process.on('SIGTERM', () => {
    void app.close().then(cleanup).finally(() => process.exit(0));
  });
}
