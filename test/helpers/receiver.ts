// An HTTP endpoint for tests of what jitgate sends out or fetches (decision-log uploads,
// checkpoints to a witness, bundles): it keeps every request it gets and answers with what
// `respond` picks, a status or a whole answer.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The status it was answered with. */
  status: number;
  /** Over TLS: the common name of the client certificate presented. */
  clientCert: string | null;
}

/** HTTPS that only talks to clients with a certificate from `ca` (PEM files), unless `anyClient`. */
export interface ReceiverTls {
  cert: string;
  key: string;
  ca: string;
  anyClient?: boolean;
}

function clientCertName(req: IncomingMessage): string | null {
  const socket = req.socket;
  const subject = socket instanceof TLSSocket ? (socket.getPeerCertificate() as { subject?: { CN?: string } }).subject : undefined;
  return subject?.CN ?? null;
}

export interface Receiver {
  /** http(s)://127.0.0.1:<port> */
  url: string;
  /** Every request so far, in order, answered or refused. */
  received: ReceivedRequest[];
  /** Those answered 2xx. */
  accepted(): ReceivedRequest[];
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/**
 * `respond` gets each request (its url), how many came before it, and its headers; it may
 * answer later (a promise: a long poll held open). Default: 204 to everything.
 */
export async function startReceiver(
  respond: (url: string, index: number, headers: IncomingHttpHeaders, body: Buffer) => number | Answer | Promise<number | Answer> = () => 204,
  tls?: ReceiverTls,
): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      const body = Buffer.concat(chunks);
      void Promise.resolve(respond(url, received.length, req.headers, body)).then((picked) => {
        const answer = typeof picked === 'number' ? { status: picked } : picked;
        received.push({ method: req.method ?? '', url, headers: req.headers, body, status: answer.status, clientCert: clientCertName(req) });
        res.writeHead(answer.status, answer.headers).end(answer.body);
      });
    });
  };
  const server = tls
    ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: readFileSync(tls.ca), requestCert: tls.anyClient !== true, rejectUnauthorized: tls.anyClient !== true }, listener)
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    received,
    accepted: () => received.filter((r) => r.status >= 200 && r.status < 300),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve(); }); }),
  };
}
