// Request bodies the policy reads, on routes with `policy_body`. The body is read up to a
// bound before the decision, checked (strict-json.ts; strict-form.ts for form bodies), parsed,
// and then sent upstream as the very bytes that were judged. Whatever cannot be judged reaches
// the policy as a status and no value, so a rule that needs a field of the body finds it
// undefined and denies.
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { jitgateError } from '../errors.js';
import type { BodyStatus } from '../policy/index.js';
import type { BodyBudget } from './body-budget.js';
import type { BodyReads } from './client-errors.js';
import type { PolicyBodyConfig } from './config.js';
import { inviteBody } from './expect-continue.js';
import { inspectForm } from './strict-form.js';
import { inspectJson } from './strict-json.js';

export interface PolicyBody {
  status: BodyStatus;
  /** The parsed JSON (status `parsed` only). */
  value?: unknown;
  /**
   * What the upstream receives: the bytes read (the whole body), the bytes read followed by
   * the unread rest (a body past the bound), or null: the request itself, never read.
   */
  upstream: Buffer | Readable | null;
}

const NOT_READ = (status: BodyStatus): PolicyBody => ({ status, upstream: null });

/** Every Content-Type and Content-Encoding value the request carries, repeats included (from rawHeaders). */
export interface BodyHeaders {
  types: readonly string[];
  encodings: readonly string[];
}

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * How the body is read, when it can be: a listed media type in UTF-8 without content coding,
 * as a form when it is `application/x-www-form-urlencoded`, as JSON otherwise. Null: not read.
 */
function readAs(contentType: string, encodings: readonly string[], types: readonly string[]): 'json' | 'form' | null {
  if (encodings.some((e) => e.trim().toLowerCase() !== 'identity')) return null;
  const [rawType = '', ...params] = contentType.split(';');
  const type = rawType.trim().toLowerCase();
  if (!types.includes(type)) return null;
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    if (name.trim().toLowerCase() === 'charset' && value.trim().replace(/^"|"$/g, '').toLowerCase() !== 'utf-8') return null;
  }
  return type === FORM_TYPE ? 'form' : 'json';
}

interface Read {
  chunks: Buffer[];
  length: number;
  /** False when the body went past the bound: the rest is still in the request, unread. */
  complete: boolean;
}

/** Where a body is read from and into: Node's request timers, and the gateway-wide budget of bytes held. */
export interface BodyReading {
  reads: BodyReads;
  /** Every byte read is counted here until the request ends (the data path gives them back). */
  budget: BodyBudget;
  /** Whose share of the budget the bytes count against: the caller's subject. */
  holder: string;
}

/**
 * Reads until the end or until more than `max` bytes came; the request is left paused after them.
 * Fails with REQUEST_TIMEOUT when Node's request timer cuts the caller off meanwhile (`reads` says
 * so), and with POLICY_BODY_BUSY when a chunk would take the bytes held past the budget.
 */
function readUpTo(req: IncomingMessage, max: number, limit: number, timeoutMs: number, { reads, budget, holder }: BodyReading): Promise<Read> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => { settle(jitgateError('BODY_TIMEOUT')); }, timeoutMs);
    const settle = (outcome: Error | Read): void => {
      clearTimeout(timer);
      reads.doneReading(req.socket);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onCutOff);
      req.off('close', onClose);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      if (!budget.take(req, chunk.length, holder)) {
        req.pause();
        settle(jitgateError('POLICY_BODY_BUSY'));
        return;
      }
      chunks.push(chunk);
      length += chunk.length;
      if (length > limit) {
        req.pause();
        settle(jitgateError('BODY_TOO_LARGE'));
      } else if (length > max) {
        req.pause();
        settle({ chunks, length, complete: false });
      }
    };
    const onEnd = (): void => { settle({ chunks, length, complete: true }); };
    const onCutOff = (): void => { settle(reads.whyCutOff(req.socket)); };
    const onClose = (): void => { if (!req.complete) onCutOff(); };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onCutOff);
    req.once('close', onClose);
    reads.reading(req.socket, { sourceFailed: settle });
  });
}

/** The bytes already read, then the rest of the request as it comes. */
function rejoined(chunks: readonly Buffer[], rest: IncomingMessage): Readable {
  const out = new PassThrough();
  for (const chunk of chunks) out.write(chunk);
  rest.once('error', (err) => { out.destroy(err); });
  rest.pipe(out);
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body as the policy sees it. Throws BODY_AMBIGUOUS (a repeated Content-Type, a repeated
 * member name, a number that cannot be read exactly), BODY_TOO_LARGE, BODY_TIMEOUT,
 * REQUEST_TIMEOUT, BAD_REQUEST (cut off) or POLICY_BODY_BUSY: the request is then refused without
 * a decision. The bytes read stay counted in `reading.budget` until the data path releases `req`.
 */
export async function readPolicyBody(req: IncomingMessage, headers: BodyHeaders, config: PolicyBodyConfig, bodyLimit: number, reading: BodyReading): Promise<PolicyBody> {
  const contentLength = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (contentLength === undefined || contentLength === '0')) return NOT_READ('none');
  const { types, encodings } = headers;
  // Node keeps the first, an upstream may take the last: which kind of body is this?
  if (types.length > 1) throw jitgateError('BODY_AMBIGUOUS', 'the Content-Type header is repeated');
  // An upgrade hands the connection over; its bytes are not a body to read here.
  if (req.headers.upgrade !== undefined) return NOT_READ('unsupported');
  const kind = readAs(types[0] ?? '', encodings, config.content_types);
  if (kind === null) return NOT_READ('unsupported');
  if (contentLength !== undefined && Number(contentLength) > config.max_bytes) return NOT_READ('too_large');

  inviteBody(req);
  const read = await readUpTo(req, config.max_bytes, bodyLimit, config.read_timeout_ms, reading);
  if (!read.complete) return { status: 'too_large', upstream: rejoined(read.chunks, req) };
  const bytes = Buffer.concat(read.chunks, read.length);
  if (bytes.length === 0) return { status: 'none', upstream: bytes };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { status: 'malformed', upstream: bytes };
  }
  if (kind === 'form') {
    const form = inspectForm(text);
    if ('fields' in form) return { status: 'parsed', value: form.fields, upstream: bytes };
    if (form.kind === 'ambiguous') throw jitgateError('BODY_AMBIGUOUS', form.detail);
    return { status: 'malformed', upstream: bytes };
  }
  const problem = inspectJson(text);
  if (problem?.kind === 'ambiguous') throw jitgateError('BODY_AMBIGUOUS', problem.detail);
  if (problem) return { status: 'malformed', upstream: bytes };
  return { status: 'parsed', value: JSON.parse(text) as unknown, upstream: bytes };
}
