// The CLI's side of the control API: where to call, with what token, and how an answer
// becomes output and an exit code scripts can rely on (EXIT in context.ts).
import type { Command } from 'commander';
import { isJitgateError } from '../errors.js';
import { EXIT } from './context.js';
import { jsonText, printable, printableLines } from './terminal.js';
import { CALL_TIMEOUT_MS, CallError, MAX_ANSWER_BYTES, callOnce, type Answer } from './http.js';

const DEFAULT_URL = 'http://127.0.0.1:8081';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface ConnectionOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** An answer the CLI turns into a message on stderr and an exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exit: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

// Policy-rule refusals (reason/ticket required, too long) deny like a 403: the input was well-formed.
const POLICY_CODES = new Set(['JITGATE_E_REASON_REQUIRED', 'JITGATE_E_TICKET_REQUIRED', 'JITGATE_E_DURATION_TOO_LONG']);

function exitFor(status: number, code: string): number {
  if (status === 401) return EXIT.AUTH;
  if (status === 403 || POLICY_CODES.has(code)) return EXIT.DENIED;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.CONFLICT;
  if (status === 400 || status === 413 || status === 422) return EXIT.USAGE;
  if (status === 502 || status === 503 || status === 504) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

/**
 * The credential as it goes in the header: without the line break `$(cat file)` or a paste may
 * leave around it, and only if a header can carry it. One with a line break, a control
 * character or a non-ASCII one inside (two lines of a file, a CRLF file, a paste) used to reach
 * fetch, whose refusal quotes the whole header, credential included, on stderr and into CI logs.
 */
function credential(raw: string | undefined): string | undefined {
  const token = raw?.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (token === undefined || token === '') return undefined;
  // Bearer tokens (RFC 6750's b64token) and jitgate's API keys are visible ASCII; JWTs too.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new CliError('USAGE', 'the token (JITGATE_TOKEN or --token) holds a space, line break, control or non-ASCII character, which no HTTP header carries: check how it was read (it is not shown here)', EXIT.USAGE);
  }
  return token;
}

/** What the person is told when a call got no usable answer. */
function callFailure(err: unknown, base: string): CliError {
  if (!(err instanceof CallError)) return new CliError('INTERNAL', err instanceof Error ? err.message : String(err), EXIT.FAILURE);
  switch (err.failure) {
    case 'unreachable':
      return new CliError('UNAVAILABLE', `cannot reach the control API at ${base}: ${err.message}`, EXIT.UNAVAILABLE);
    case 'timeout':
      return new CliError('UNAVAILABLE', `the control API at ${base} did not answer within ${String(CALL_TIMEOUT_MS / 1000)} s`, EXIT.UNAVAILABLE);
    case 'broken':
      return new CliError('UNAVAILABLE', `the control API at ${base} broke off its answer: ${err.message}`, EXIT.UNAVAILABLE);
    case 'too_large':
      // No answer of the control API is this large: this is not one.
      return new CliError('BAD_RESPONSE', `the answer from ${base} is larger than ${String(MAX_ANSWER_BYTES / 1024 / 1024)} MiB (${err.message}): not the control API's`, EXIT.FAILURE);
  }
}

export class ControlClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;

  constructor(options: ConnectionOptions) {
    this.baseUrl = (options.url ?? process.env.JITGATE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
    this.token = credential(options.token ?? process.env.JITGATE_TOKEN);
    let url: URL;
    try {
      url = new URL(this.baseUrl);
    } catch {
      throw new CliError('USAGE', '--url is not a URL', EXIT.USAGE);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError('USAGE', '--url must be an http(s) URL', EXIT.USAGE);
    // Not echoed: what it holds is a password.
    if (url.username !== '' || url.password !== '') throw new CliError('USAGE', '--url must not hold a user name or password; the credential goes in JITGATE_TOKEN', EXIT.USAGE);
    if (this.token && url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && process.env.JITGATE_ALLOW_PLAIN_HTTP !== '1') {
      throw new CliError('USAGE', `refusing to send a credential over plain http to ${url.hostname}: use https (or set JITGATE_ALLOW_PLAIN_HTTP=1 on a network you trust)`, EXIT.USAGE);
    }
    // Arguments are visible to every user of the machine (ps, /proc/<pid>/cmdline) while the call runs.
    if (options.token !== undefined) process.stderr.write('jitgate: warning: --token is visible to other users of this machine while the command runs; prefer JITGATE_TOKEN\n');
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (method === 'POST') headers['content-type'] = 'application/json';
    let response: Answer;
    try {
      response = await callOnce(url, { method, headers, ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}) });
    } catch (err) {
      throw callFailure(err, this.baseUrl);
    }
    const text = response.text;
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // fall through: a non-JSON answer is reported below
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`;
      let message = typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`;
      if (response.status === 401 && !this.token) message += ' (set JITGATE_TOKEN)';
      throw new CliError(code, message, exitFor(response.status, code));
    }
    if (parsed === null) throw new CliError('BAD_RESPONSE', `the control API answered ${response.status} without JSON`, EXIT.FAILURE);
    return parsed as T;
  }
}

/** The options every command takes, and usage errors that exit 2 (commander's own default is 1). */
export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `control API address (env JITGATE_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token or API key (env JITGATE_TOKEN)')
    .option('--json', 'print the API response as JSON, for scripts')
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT.USAGE);
    });
}

/** Runs a command body: prints its output, or the error's code and message on stderr with its exit code. */
export async function run(opts: ConnectionOptions, body: (client: ControlClient) => Promise<{ json: unknown; text: string }>): Promise<void> {
  try {
    const client = new ControlClient(opts);
    const out = await body(client);
    process.stdout.write(`${opts.json ? jsonText(out.json) : printableLines(out.text)}\n`);
  } catch (err) {
    // A flag the CLI refuses before calling (--limit) is a usage error with the API's own code.
    const failure = err instanceof CliError ? err
      : isJitgateError(err, 'VALIDATION') ? new CliError(err.code, err.message, EXIT.USAGE)
      : new CliError('INTERNAL', err instanceof Error ? err.message : String(err), EXIT.FAILURE);
    // The code and message are the server's own words, whoever answered: shown, never obeyed.
    process.stderr.write(`jitgate: ${printable(failure.code)}: ${printable(failure.message)}\n`);
    process.exitCode = failure.exit;
  }
}

/** POSTs to an action endpoint (approve, revoke, ...) and shows the object it answers with. */
// T names what the endpoint answers with, as in ControlClient.call; the caller's detail view fixes it.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function act<T>(opts: ConnectionOptions, path: string, body: Record<string, unknown>, detail: (value: T) => string): Promise<void> {
  return run(opts, async (client) => {
    const value = await client.call<T>('POST', path, body);
    return { json: value, text: detail(value) };
  });
}

/** One page of a listing endpoint: GET /v1/grants, /v1/requests. */
export interface Page<T> { items: T[]; next_cursor: string | null }

/** Shows a page as a table, and says how to ask for the next one. */
export function pageOutput<T>(page: Page<T>, table: (items: readonly T[]) => string): { json: Page<T>; text: string } {
  const more = page.next_cursor === null ? '' : `\n(more: --cursor ${page.next_cursor})`;
  // An empty page that goes on is not an empty list: the server stopped reading rows you may not see.
  const items = page.items.length === 0 && page.next_cursor !== null
    ? 'none you may see on this page (the server reads a bounded number of rows per call); the list goes on'
    : table(page.items);
  return { json: page, text: items + more };
}

/** The caller's own subject id, for --mine. */
export async function callerId(client: ControlClient): Promise<string> {
  return (await client.call<{ id: string }>('GET', '/v1/whoami')).id;
}

/** Commander collects repeatable options with this. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
