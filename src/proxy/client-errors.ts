// What a connection gets when Node's HTTP parser or request timers fail it (a malformed or
// oversized head, a caller too slow to send its request): a JSON answer with a stable code and
// the connection closed. Two cases are different. An answer already under way gets nothing
// written among its bytes, only the close. A request whose handler is reading its body (to
// stream it upstream, or for the policy) is answered by that handler, with its ids and a
// decision-log event, once the body is cut off.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { jitgateError, type JitgateError } from '../errors.js';
import { uuid } from '../uuid.js';
import { rawAnswer, specBody } from './respond.js';

const ANSWERS = {
  BAD_REQUEST: '400 Bad Request',
  HEADERS_TOO_LARGE: '431 Request Header Fields Too Large',
  REQUEST_TIMEOUT: '408 Request Timeout',
} as const;

/** Node's codes for what failed a connection, by the answer they get (anything else: 400). */
const BY_CODE: Readonly<Record<string, keyof typeof ANSWERS>> = {
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
};

/** The JSON body a listener answers a failed connection with: the data path's names a request id. */
export type ConnectionErrorBody = (name: keyof typeof ANSWERS) => object;

/** A request body being read by its handler, which is told when Node's request timer cuts the caller off. */
export interface BodyReader {
  sourceFailed(err: Error): void;
}

/** Where a handler says it is reading a request's body, and when it stopped. */
export interface BodyReads {
  reading(socket: Socket, reader: BodyReader): void;
  doneReading(socket: Socket): void;
  /** Why the body on `socket` broke off before its end: the request timer, bytes Node could not parse, or the caller gone. */
  whyCutOff(socket: Socket): JitgateError;
}

export class ConnectionErrors implements BodyReads {
  readonly #body: ConnectionErrorBody;
  readonly #timedOut = new WeakSet<Socket>();
  /** Connections whose bytes Node's parser refused (a broken chunked body): their cut-off body was the caller's fault, not its leaving. */
  readonly #malformed = new WeakSet<Socket>();
  readonly #reading = new WeakMap<Socket, BodyReader>();

  constructor(body: ConnectionErrorBody = (name) => specBody(name, uuid())) {
    this.#body = body;
  }

  /** A handler reads the body of the request on `socket` (upstream or for the policy), until `doneReading`. */
  reading(socket: Socket, reader: BodyReader): void {
    this.#reading.set(socket, reader);
  }

  doneReading(socket: Socket): void {
    this.#reading.delete(socket);
  }

  whyCutOff(socket: Socket): JitgateError {
    if (this.#timedOut.has(socket)) return jitgateError('REQUEST_TIMEOUT');
    if (this.#malformed.has(socket)) return jitgateError('BAD_REQUEST', 'the request body was cut off');
    return jitgateError('CLIENT_CLOSED', 'the caller closed the connection while sending its request body');
  }

  /** The server's `clientError` handler. */
  readonly handle = (err: NodeJS.ErrnoException, socket: Socket): void => {
    // The end of input inside a message is the caller leaving, not bytes that failed to parse.
    if (err.code?.startsWith('HPE_') === true && err.code !== 'HPE_INVALID_EOF_STATE') this.#malformed.add(socket);
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const name = BY_CODE[err.code ?? ''] ?? 'BAD_REQUEST';
    if (name === 'REQUEST_TIMEOUT') this.#timedOut.add(socket);
    const answering = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const reader = this.#reading.get(socket);
    if (name === 'REQUEST_TIMEOUT' && reader && answering?.headersSent === false) {
      reader.sourceFailed(jitgateError('REQUEST_TIMEOUT'));
      return;
    }
    // As Node's own handler: a pipelined request that broke while an earlier response streams.
    if (!socket.writable || answering?.headersSent === true) {
      socket.destroy();
      return;
    }
    socket.write(rawAnswer(ANSWERS[name], this.#body(name)));
    // Closed once written, whether or not the caller ever stops sending.
    socket.destroySoon();
  };
}
