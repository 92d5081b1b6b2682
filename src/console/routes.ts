// Serves the console under /console/ on the control server, beside the API it calls (same
// origin: no CORS, and the page's token is only ever sent to this API).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { jitgateError } from '../errors.js';
import { loadAssets, type Asset } from './assets.js';

const CONSOLE_PATH = '/console/';

/**
 * Scripts and styles from these files only (no inline code, no eval), calls to this origin
 * only, never framed: an injected string in a request's reason can neither run nor phone home.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-cache',
};

function send(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply.headers(SECURITY_HEADERS).type(asset.contentType).send(asset.body);
}

/** Adds GET /console (redirect), /console/ and its files to `app`. Throws when a file is missing. */
export function registerConsole(app: FastifyInstance): void {
  const assets = loadAssets();
  const index = assets.get('index.html');
  if (!index) throw new Error('the console has no index.html');
  app.get('/console', (_request, reply) => reply.redirect(CONSOLE_PATH, 308));
  app.get(CONSOLE_PATH, (_request, reply) => send(reply, index));
  app.get<{ Params: { file: string } }>(`${CONSOLE_PATH}:file`, (request, reply) => {
    const asset = assets.get(request.params.file);
    if (!asset) throw jitgateError('NOT_FOUND', `no console file ${request.params.file}`);
    return send(reply, asset);
  });
}
