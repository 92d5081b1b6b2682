// `Expect: 100-continue`. Node answers it at once by default, inviting the body before anything
// was decided. The data path takes that answer over, so a caller is asked for the body only when
// the gateway is about to read it: to show it to the policy, or to send an allowed request
// upstream. A refused or unauthenticated request never has its body invited, and Node closes
// the connection after a final answer sent without the 100 (the caller may or may not be
// sending the body by then).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Requests still waiting for their 100 (only those that asked for one). */
const awaiting = new WeakMap<IncomingMessage, ServerResponse>();

/** Makes `server` hand `Expect: 100-continue` requests to its request handler without answering 100. */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaiting.set(req, res);
    server.emit('request', req, res);
  });
}

/** Sends the `100 Continue` the request waits for, if it waits for one. */
export function inviteBody(req: IncomingMessage): void {
  const res = awaiting.get(req);
  if (res === undefined) return;
  awaiting.delete(req);
  if (!res.headersSent) res.writeContinue();
}
