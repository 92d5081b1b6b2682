// One call to the control API with a bound on both time and size: the whole exchange (connect,
// head and body) ends within the deadline, and an answer larger than any the API gives is cut
// off. Without them a server that sent its head and then a body slowly, or one without end,
// held the CLI forever, and the second grew its memory without bound (14 GB in 80 s).

/** The most a control API answer may hold: a page of 500 requests at their schema's limits is less. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** How long one call may take, from connecting to the answer's last byte. */
export const CALL_TIMEOUT_MS = 30_000;

export type CallFailure =
  /** No answer: connection refused, DNS, TLS, a redirect (never followed). */
  | 'unreachable'
  /** The deadline passed before the answer was complete. */
  | 'timeout'
  /** The answer said, or turned out, to be larger than MAX_ANSWER_BYTES. */
  | 'too_large'
  /** The answer began and then broke off. */
  | 'broken';

export class CallError extends Error {
  constructor(readonly failure: CallFailure, message: string) {
    super(message);
    this.name = 'CallError';
  }
}

export interface Answer { status: number; ok: boolean; text: string }

export interface CallLimits { timeoutMs?: number; maxBytes?: number }

/** The status and text of one call; a CallError when there is none within the limits. */
export async function callOnce(url: URL, init: Omit<RequestInit, 'signal' | 'redirect'>, limits: CallLimits = {}): Promise<Answer> {
  const timeoutMs = limits.timeoutMs ?? CALL_TIMEOUT_MS;
  const maxBytes = limits.maxBytes ?? MAX_ANSWER_BYTES;
  // A controller and a timer of our own, raced against each step: AbortSignal.timeout() given to
  // fetch stops aborting the body once a garbage collection has run (undici #4068), which is
  // how a slow body outlived its 30 s.
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new CallError('timeout', `no complete answer within ${String(timeoutMs / 1000)} s`));
      controller.abort();
    }, timeoutMs);
  });
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    let response: Response;
    try {
      // Never followed: a redirect would take the bearer token to wherever it points.
      response = await Promise.race([fetch(url, { ...init, signal: controller.signal, redirect: 'error' }), expired]);
    } catch (err) {
      if (err instanceof CallError) throw err;
      throw new CallError('unreachable', err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err));
    }
    const declared = Number(response.headers.get('content-length'));
    if (declared > maxBytes) throw new CallError('too_large', `an answer of ${String(declared)} bytes`);
    reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
    const text = reader ? await Promise.race([readText(reader, maxBytes), expired]) : '';
    return { status: response.status, ok: response.ok, text };
  } finally {
    clearTimeout(timer);
    controller.abort();
    // A body not read to its end is cancelled, which closes its connection: after a garbage
    // collection the abort alone no longer reaches it, and the open socket kept the command
    // running after it had said it gave up.
    void reader?.cancel().catch(() => undefined);
  }
}

async function readText(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read().catch((err: unknown) => {
      throw new CallError('broken', err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err));
    });
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxBytes) {
      throw new CallError('too_large', `more than ${String(maxBytes)} bytes`);
    }
    chunks.push(next.value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
