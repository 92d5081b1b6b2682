// OPA's bundle plugin, for jitgate: polls a bundle server with OPA's protocol (GET, ETag and
// If-None-Match, 304 when unchanged) and hands each new bundle to the policy manager, which
// validates it and swaps it in or refuses it (the last good policy keeps serving). Only a
// bundle that was activated is kept on disk, so a restart while the server is away starts
// from the last good one.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { toError } from '../errors.js';
import { fetchLimited, FetchLimitError } from '../fetch-limited.js';
import { shownUrl } from '../shown-url.js';
import type { PolicyLogger } from './manager.js';

export interface BundleSource {
  /** The bundle's name (the key under `bundles`), for logs. */
  name: string;
  /** The bundle's full URL: the service's url and the resource. */
  url: string;
  /** The service's headers and credentials, asked for each download (a token file may have been rotated). */
  headers: () => Promise<Record<string, string>>;
  /** What the download goes through: the service's CA and client certificate (undefined: undici's default). */
  dispatcher: () => Dispatcher | undefined;
  minDelayMs: number;
  maxDelayMs: number;
  sizeLimitBytes: number;
  /** How long to wait for the response headers (the service's response_header_timeout_seconds). */
  timeoutMs: number;
  /**
   * How much longer than the headers the whole answer may take, body included. undici's
   * bodyTimeout is per chunk: a server trickling a byte every few seconds would hold the download
   * (and the gateway's start, and every later poll) for as long as it likes.
   */
  bodyDeadlineMs: number;
  /**
   * OPA's long polling (polling.long_polling_timeout_seconds): the server may hold a poll open
   * this long and answer the moment a new bundle is there. Null: plain polling only.
   */
  longPollMs: number | null;
  /** Where the last activated bundle is kept. */
  file: string;
}

/**
 * The manager's side: true when the bundle at `path` is serving afterwards (new or already).
 * The manager verifies signatures itself, so a bundle dropped into bundles_dir by hand or kept
 * from an earlier download is held to the same rule as a fresh one.
 */
export interface BundleTarget {
  loadBundle(path: string): Promise<boolean>;
}

export type DownloadOutcome = 'activated' | 'unchanged' | 'rejected' | 'failed';

/** The media type with which a bundle server says it holds polls open (OPA's download.go). */
const LONG_POLL_TYPE = 'application/vnd.openpolicyagent.bundles';

/**
 * Between long polls: a server answers a held poll when something changed, so the next one
 * goes out at once; this floor only keeps a server that answers at once from spinning us.
 */
const LONG_POLL_GAP_MS = 100;

export class BundleDownloader {
  /** The ETag of the last activated bundle only: a refused one is fetched again (as OPA does). */
  #etag: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #running: Promise<DownloadOutcome> | null = null;
  /** Why the last attempt failed, for the start-up error when no policy could be had. */
  lastError: string | null = null;
  /**
   * Whether polls ask the server to hold them open: from the config, until a bundle comes
   * from a server that does not say it supports that (then plain polling, as OPA does).
   */
  #longPoll: boolean;
  /** The request under way, aborted by stop(). */
  #inFlight: AbortController | null = null;

  constructor(private readonly source: BundleSource, private readonly target: BundleTarget, private readonly logger: PolicyLogger) {
    this.#longPoll = source.longPollMs !== null;
  }

  /** One poll: fetch, and on a new bundle hand it to the manager. Never throws. */
  fetchOnce(): Promise<DownloadOutcome> {
    this.#running ??= this.#fetch().finally(() => { this.#running = null; });
    return this.#running;
  }

  /** Polls after a random delay between the configured bounds (or held open, when long polling), until stop(). */
  start(): void {
    this.#stopped = false;
    this.#schedule(this.#longPoll);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // A long poll may be held open for its whole wait: shutting down does not wait for it.
    this.#inFlight?.abort();
    await this.#running;
  }

  /** The next poll: at once when long polling (the server holds it), else after a random delay; after a failure or a refusal always the delay. */
  #schedule(soon: boolean): void {
    if (this.#stopped) return;
    const { minDelayMs, maxDelayMs } = this.source;
    const delay = soon ? LONG_POLL_GAP_MS : minDelayMs + Math.random() * Math.max(0, maxDelayMs - minDelayMs);
    this.#timer = setTimeout(() => {
      // After a failure or a refused bundle, the configured delay: a server that keeps sending a
      // bundle that cannot be had does not get it checked again every few milliseconds.
      void this.fetchOnce().then((outcome) => { this.#schedule(this.#longPoll && outcome !== 'failed' && outcome !== 'rejected'); });
    }, delay);
    this.#timer.unref();
  }

  async #fetch(): Promise<DownloadOutcome> {
    const { url, name } = this.source;
    const shown = shownUrl(url);
    let body: Buffer;
    let etag: string | null;
    try {
      const longPollMs = this.#longPoll ? this.source.longPollMs : null;
      this.#inFlight = new AbortController();
      const limit = this.source.sizeLimitBytes;
      const headTimeoutMs = this.source.timeoutMs + (longPollMs ?? 0);
      // One deadline over head and body, whatever the status: the body deadline used to cover
      // only a bundle's body, and a refusal whose body trickled held the poll, every later one
      // and the gateway's start (which waits on the first) for good. Only a bundle's body is read.
      const res = await fetchLimited(url, {
        method: 'GET',
        headers: {
          ...(await this.source.headers()),
          ...(this.#etag !== null ? { 'if-none-match': this.#etag } : {}),
          // Whole bundles only (no delta bundles here); held open up to the wait when long polling.
          prefer: longPollMs === null ? 'modes=snapshot' : `modes=snapshot;wait=${String(Math.round(longPollMs / 1000))}`,
        },
        redirect: 'manual',
      }, {
        headTimeoutMs, timeoutMs: headTimeoutMs + this.source.bodyDeadlineMs, maxBytes: (status) => (status === 200 ? limit : null),
        signal: this.#inFlight.signal, dispatcher: this.source.dispatcher(),
      }).catch((err: unknown) => {
        if (err instanceof FetchLimitError && err.failure === 'too_large') throw new Error(`the bundle is larger than size_limit_bytes (${String(limit)})`);
        throw err;
      });
      if (res.status === 200 && this.source.longPollMs !== null) {
        this.#longPoll = res.headers.get('content-type') === LONG_POLL_TYPE;
      }
      if (res.status === 304) {
        this.lastError = null;
        return 'unchanged';
      }
      if (res.status !== 200) throw new Error(`the server answered ${String(res.status)}`);
      body = res.body;
      etag = res.headers.get('etag');
    } catch (err) {
      if (this.#stopped) return 'failed';
      this.lastError = `bundle ${name} from ${shown}: ${toError(err).message}`;
      this.logger.warn({ bundle: name, url: shown, error: toError(err).message }, 'bundle download failed; the policy serving stays');
      return 'failed';
    } finally {
      this.#inFlight = null;
    }
    // Loaded from a file the bundles_dir watcher ignores (a dot file), kept only if activated.
    // An unguessable name, created only if absent ('wx' follows no link someone planted there).
    const candidate = join(dirname(this.source.file), `.download-${randomBytes(8).toString('hex')}.tar.gz`);
    try {
      await mkdir(dirname(candidate), { recursive: true, mode: 0o750 });
      await writeFile(candidate, body, { flag: 'wx', mode: 0o640 });
      if (!(await this.target.loadBundle(candidate))) {
        this.#etag = null;
        this.lastError = `bundle ${name} from ${shown} was refused (the policy log says why)`;
        return 'rejected';
      }
      await rename(candidate, this.source.file);
      this.#etag = etag;
      this.lastError = null;
      return 'activated';
    } catch (err) {
      this.lastError = `bundle ${name}: ${toError(err).message}`;
      this.logger.warn({ bundle: name, error: toError(err).message }, 'a downloaded bundle could not be kept');
      return 'failed';
    } finally {
      await rm(candidate, { force: true });
    }
  }
}
