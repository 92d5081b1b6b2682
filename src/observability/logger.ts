// Structured logs (pino). Secrets are removed by pino's redact paths before a line is
// serialized: credential headers wherever a request or response is logged, and any
// field named like a secret.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { ObservabilityConfig } from './config.js';

export const REDACT_CENSOR = '[REDACTED]';

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
/** Where headers appear in our logs: fastify's req/res serializers, our own `headers` fields. */
const HEADER_HOLDERS = ['headers', 'req.headers', 'res.headers', 'request.headers', 'response.headers', 'upstream.headers', '*.headers'];
const SECRET_FIELDS = ['secret', 'token', 'password', 'api_key', 'apiKey', 'client_secret', 'client_assertion', 'assertion', 'access_token', 'refresh_token', 'id_token', 'private_key', 'credential_value', 'value_secret'];

export const REDACT_PATHS: string[] = [
  ...HEADER_HOLDERS.flatMap((h) => SECRET_HEADERS.map((name) => `${h}["${name}"]`)),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  // Credential values as the proxy part holds them (routes[].credentials.<name>.value).
  'credential.value',
  '*.credential.value',
  'credentials.*.value',
  '*.credentials.*.value',
  // undici's parser errors hold the bytes an upstream sent, which may echo a credential.
  'err.data',
];

/**
 * Log lines waiting for stdout to take them, at most. pino writes asynchronously and, unbounded,
 * held every line a stalled log reader (a blocked pipe, a paused collector) did not take: the
 * control API's request lines alone grew the gateway by 400 MB in 15 s of requests with long URLs.
 * Beyond this, new lines are dropped and counted (jitgate_log_dropped_total) instead.
 */
export const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/** `onDrop`: called for each line dropped because stdout did not take it (only when writing to stdout). */
export function createLogger(config: ObservabilityConfig, destination?: DestinationStream, onDrop?: () => void): Logger {
  return pino(
    {
      level: config.log_level,
      base: { service: 'jitgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACT_CENSOR },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? stdout(onDrop),
  );
}

function stdout(onDrop: (() => void) | undefined): DestinationStream {
  // As pino's default (asynchronous, flushed at exit), but bounded.
  const dest = pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES });
  if (onDrop) dest.on('drop', onDrop);
  return dest;
}
