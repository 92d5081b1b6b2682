// An upstream that answers with whatever bytes a test gives it, malformed ones included: for
// each request head it gets, `answer(head)` returns the bytes to send, then it closes.
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface RawUpstream {
  url: string;
  /** Every request head received, in order. */
  heads: string[];
  close(): Promise<void>;
}

export async function rawUpstream(answer: (head: string) => Buffer | string): Promise<RawUpstream> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => { /* the gateway may hang up first */ });
    let buffered = '';
    sock.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      heads.push(head);
      sock.end(answer(head));
    });
  });
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    heads,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => { resolve(); });
    }),
  };
}

/** A header's value in a raw request head (the first one of that name). */
export function headerOf(head: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1];
}
