// One HTTP call to a remote service with a bound on both time and size: the whole exchange
// (connect, head and body) ends within the deadline, and a body larger than the caller expects is
// cut off. The CLI's calls to the control API and the gateway's own (OIDC discovery and JWKS,
// webhooks, the OPA services' token, upload, checkpoint and bundle calls) go through it: without
// the bounds a server that sent its head and then a body slowly held the caller forever, and one
// that sent a body without end filled its memory.
import { fetch as undiciFetch, type Dispatcher, type RequestInit as UndiciRequestInit } from 'undici';

export type FetchFailure =
  /** No answer: connection refused, DNS, TLS, a redirect when refused. */
  | 'unreachable'
  /** The deadline passed before the answer was complete. */
  | 'timeout'
  /** The answer said, or turned out, to be larger than the limit. */
  | 'too_large'
  /** The answer began and then broke off. */
  | 'broken';

export class FetchLimitError extends Error {
  constructor(readonly failure: FetchFailure, message: string) {
    super(message);
    this.name = 'FetchLimitError';
  }
}

export interface FetchLimits {
  /** How long the call may take, from connecting to the answer's last byte. */
  timeoutMs: number;
  /**
   * The most the body may hold; `null`: the body is not wanted, and is cancelled unread. Given as
   * a function of the status when only some answers' bodies are wanted (a bundle, not a refusal).
   */
  maxBytes: number | null | ((status: number) => number | null);
  /** Aborts the call early (a stopping service). */
  signal?: AbortSignal;
  /**
   * How long the head may take, when it must come sooner than the whole answer (a bundle's
   * response_header_timeout_seconds, with its body given longer).
   */
  headTimeoutMs?: number;
  /** What the call goes through: a service's own CA and client certificate (undici's default without). */
  dispatcher?: Dispatcher | undefined;
}

export interface FetchedAnswer { status: number; ok: boolean; headers: Headers; body: Buffer }

/** The status, headers and body of one call; a FetchLimitError when there is none within the limits. */
export async function fetchLimited(url: string | URL, init: Omit<RequestInit, 'signal'>, limits: FetchLimits): Promise<FetchedAnswer> {
  const { timeoutMs, signal, headTimeoutMs, dispatcher } = limits;
  // A controller and a timer of our own, raced against each step: AbortSignal.timeout() given to
  // fetch stops aborting the body once a garbage collection has run (undici #4068), which is
  // how a slow body outlived its deadline.
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let headTimer: NodeJS.Timeout | undefined;
  let stop: (() => void) | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new FetchLimitError('timeout', `no complete answer within ${String(timeoutMs / 1000)} s`));
      controller.abort();
    }, timeoutMs);
    if (headTimeoutMs !== undefined && headTimeoutMs < timeoutMs) {
      headTimer = setTimeout(() => {
        reject(new FetchLimitError('timeout', `no answer within ${String(headTimeoutMs / 1000)} s`));
        controller.abort();
      }, headTimeoutMs);
    }
    if (signal) {
      stop = () => {
        reject(new FetchLimitError('unreachable', 'the call was abandoned'));
        controller.abort();
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    }
  });
  // Only ever rejected by the race below, or after the call ended: never unhandled.
  expired.catch(() => undefined);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    let response: Response;
    try {
      // undici's own fetch, not Node's copy of it: a service's dispatcher is one of undici's agents.
      // (Its Response is the standard one; only the type declarations are separate.)
      const call = undiciFetch(url, { ...init, signal: controller.signal, ...(dispatcher ? { dispatcher } : {}) } as UndiciRequestInit) as unknown as Promise<Response>;
      response = await Promise.race([call, expired]);
    } catch (err) {
      if (err instanceof FetchLimitError) throw err;
      throw new FetchLimitError('unreachable', err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err));
    } finally {
      clearTimeout(headTimer);
    }
    reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
    let body: Buffer = Buffer.alloc(0);
    const wanted = typeof limits.maxBytes === 'function' ? limits.maxBytes(response.status) : limits.maxBytes;
    if (wanted !== null) {
      const declared = Number(response.headers.get('content-length'));
      if (declared > wanted) throw new FetchLimitError('too_large', `an answer of ${String(declared)} bytes`);
      if (reader) body = await Promise.race([readAll(reader, wanted), expired]);
    }
    return { status: response.status, ok: response.ok, headers: response.headers, body };
  } finally {
    clearTimeout(timer);
    if (stop) signal?.removeEventListener('abort', stop);
    controller.abort();
    // A body not read to its end is cancelled, which closes its connection: after a garbage
    // collection the abort alone no longer reaches it, and the open socket lived on.
    void reader?.cancel().catch(() => undefined);
  }
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read().catch((err: unknown) => {
      throw new FetchLimitError('broken', err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err));
    });
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxBytes) throw new FetchLimitError('too_large', `more than ${String(maxBytes)} bytes`);
    chunks.push(next.value);
  }
  return Buffer.concat(chunks, size);
}
