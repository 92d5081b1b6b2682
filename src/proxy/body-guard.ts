// The caller's request body on its way upstream, watched: cut off past the route's limit (a
// chunked body has no length to check up front) and when the caller stops sending it. Without
// the second, a caller sending a byte now and then holds an upstream connection for as long as
// it likes: undici restarts its header timer with every byte it writes upstream.
import { Transform } from 'node:stream';
import { jitgateError } from '../errors.js';

export interface GuardedBody {
  readonly stream: Transform;
  /** Why the body was cut off, if it was ('source_failed': the caller's side of it broke). */
  readonly cutOff: 'too_large' | 'stalled' | 'source_failed' | null;
  /** The stream the body comes from failed (the caller's connection closed or timed out). */
  sourceFailed(err: Error): void;
  /** Stops watching (the exchange is over, whichever way). */
  stop(): void;
}

/**
 * Passes the body through, counting bytes against `limitBytes` (null: a Content-Length was
 * checked already and Node never reads past it) and failing the stream with BODY_TIMEOUT when no
 * byte came for `idleMs`. Only the caller's silence counts: while bytes wait for the upstream to
 * take them, the upstream's own timeouts decide.
 */
export function guardBody(limitBytes: number | null, idleMs: number): GuardedBody {
  let seen = 0;
  let cutOff: GuardedBody['cutOff'] = null;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      timer.refresh();
      seen += chunk.length;
      if (limitBytes !== null && seen > limitBytes) {
        cutOff = 'too_large';
        callback(jitgateError('BODY_TOO_LARGE'));
        return;
      }
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(timer);
      callback();
    },
  });
  const timer = setTimeout(() => {
    if (stream.writableLength > 0 || stream.readableLength > 0) {
      timer.refresh();
      return;
    }
    cutOff = 'stalled';
    stream.destroy(jitgateError('BODY_TIMEOUT', `no byte of the request body for ${String(idleMs)} ms`));
  }, idleMs);
  stream.once('close', () => { clearTimeout(timer); });
  return {
    stream,
    get cutOff() { return cutOff; },
    sourceFailed(err) {
      cutOff ??= 'source_failed';
      stream.destroy(err);
    },
    stop() { clearTimeout(timer); },
  };
}
