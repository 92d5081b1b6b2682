// OPA's decision log upload protocol (docs/management-decision-logs): events are
// buffered, then POSTed to <service url><resource> as gzip-compressed JSON arrays of at
// most upload_size_limit_bytes each. A failed upload puts its events back and backs off
// exponentially up to max_delay_seconds. The buffer is bounded, in events and in bytes: when
// full, the oldest events are dropped, and every drop is counted. Nothing here may take the
// gateway down: an upload that fails in any way is retried or its events counted as dropped.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { Agent } from 'undici';
import { fetchLimited } from '../fetch-limited.js';
import { serviceDispatcher, serviceHeaders, serviceUrl, type ServiceConfig } from './service.js';

const gzip = promisify(gzipCb);

export interface HttpSinkOptions {
  service: ServiceConfig;
  resource: string;
  bufferLimitEvents: number;
  /** Bound on the buffered events' encoded length (UTF-16 units, as held in memory). */
  bufferLimitBytes: number;
  uploadLimitBytes: number;
  minDelayMs: number;
  maxDelayMs: number;
  onDrop: (count: number, reason: string) => void;
  onUploadError: (err: Error) => void;
}

/** The smallest retry delay, so min_delay_seconds: 0 cannot spin on a dead receiver. */
const MIN_BACKOFF_MS = 50;

/**
 * Events are gzipped a group at a time, never the whole buffer as one string (which past V8's
 * string limit would throw): a group's JSON is at most this long before compression.
 */
const GROUP_CHARS = 4 * 1024 * 1024;

export class HttpSink {
  /** Serialized events, oldest first. */
  private buffer: string[] = [];
  private bufferedChars = 0;
  private timer: NodeJS.Timeout | null = null;
  private uploading: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000 });
  private readonly url: string;
  /** Upload counters, for status and tests. */
  readonly stats = { uploaded: 0, failedAttempts: 0 };

  constructor(private readonly opts: HttpSinkOptions) {
    this.url = serviceUrl(opts.service, opts.resource);
  }

  get buffered(): number {
    return this.buffer.length;
  }

  push(json: string): void {
    this.buffer.push(json);
    this.bufferedChars += json.length;
    this.trim();
    this.arm(this.opts.minDelayMs);
  }

  /** Puts events back (a failed upload) ahead of anything buffered since. */
  private requeue(events: readonly string[]): void {
    this.buffer = [...events, ...this.buffer];
    for (const e of events) this.bufferedChars += e.length;
    this.trim();
  }

  private takeAll(): string[] {
    const events = this.buffer;
    this.buffer = [];
    this.bufferedChars = 0;
    return events;
  }

  private trim(): void {
    let excess = Math.max(0, this.buffer.length - this.opts.bufferLimitEvents);
    let chars = this.bufferedChars;
    for (let i = 0; i < excess; i++) chars -= (this.buffer[i] as string).length;
    while (chars > this.opts.bufferLimitBytes && excess < this.buffer.length) chars -= (this.buffer[excess++] as string).length;
    if (excess > 0) {
      this.buffer.splice(0, excess);
      this.bufferedChars = chars;
      this.opts.onDrop(excess, 'upload buffer full');
    }
  }

  private arm(delayMs: number): void {
    if (this.timer || this.uploading || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.uploading = this.uploadOnce().catch((err: unknown) => { this.opts.onUploadError(err instanceof Error ? err : new Error(String(err))); }).finally(() => {
        this.uploading = null;
        if (this.buffer.length > 0) this.arm(this.nextDelay());
      });
    }, delayMs);
    this.timer.unref();
  }

  private nextDelay(): number {
    if (this.failures === 0) return this.opts.minDelayMs;
    const base = Math.max(this.opts.minDelayMs, MIN_BACKOFF_MS);
    const backoff = base * 2 ** Math.min(this.failures - 1, 20);
    return Math.min(Math.max(this.opts.maxDelayMs, base), backoff);
  }

  /** Gzip-compressed JSON arrays within the size limit, a group of events at a time. */
  private async chunks(events: readonly string[]): Promise<{ body: Buffer; events: string[] }[]> {
    const out: { body: Buffer; events: string[] }[] = [];
    let group: string[] = [];
    let chars = 0;
    for (const e of events) {
      if (group.length > 0 && chars + e.length > GROUP_CHARS) {
        out.push(...(await this.chunk(group)));
        group = [];
        chars = 0;
      }
      group.push(e);
      chars += e.length + 1;
    }
    if (group.length > 0) out.push(...(await this.chunk(group)));
    return out;
  }

  /** One group as chunks within the size limit (halved until they fit); an event too large on its own is dropped. */
  private async chunk(events: string[]): Promise<{ body: Buffer; events: string[] }[]> {
    const body = await gzip(Buffer.from(`[${events.join(',')}]`));
    if (body.length <= this.opts.uploadLimitBytes) return [{ body, events }];
    if (events.length === 1) {
      this.opts.onDrop(1, 'event larger than upload_size_limit_bytes');
      return [];
    }
    const half = Math.ceil(events.length / 2);
    return [...(await this.chunk(events.slice(0, half))), ...(await this.chunk(events.slice(half)))];
  }

  /** Sends what is buffered now; on failure the unsent events go back to the front of the buffer. */
  private async uploadOnce(): Promise<void> {
    const events = this.takeAll();
    if (events.length === 0) return;
    let chunks: { body: Buffer; events: string[] }[];
    try {
      chunks = await this.chunks(events);
    } catch (err) {
      // Compression failed (memory): the events are lost, counted, never the gateway.
      this.opts.onDrop(events.length, 'events could not be compressed for upload');
      throw err;
    }
    for (const [i, c] of chunks.entries()) {
      try {
        // One deadline over the whole upload, answer included, of which only the status counts
        // (its body is cancelled unread): undici's bodyTimeout is per chunk, and a receiver that
        // sent its head and then a byte a second held the upload, and with it every later one
        // and the gateway's stop, for good.
        const res = await fetchLimited(this.url, {
          method: 'POST',
          body: c.body,
          // Per upload: a bearer token_path is read each time, so a rotated token is picked up.
          headers: { ...(await serviceHeaders(this.opts.service)), 'content-type': 'application/json', 'content-encoding': 'gzip' },
          redirect: 'manual',
        }, {
          timeoutMs: (this.opts.service.response_header_timeout_seconds ?? 10) * 1000,
          maxBytes: null,
          // The service's CA and client certificate when it has them (files read per upload).
          dispatcher: serviceDispatcher(this.opts.service) ?? this.agent,
        }).catch((err: unknown) => { throw new Error(`decision log upload: ${err instanceof Error ? err.message : String(err)}`); });
        if (res.status < 200 || res.status >= 300) throw new Error(`decision log upload: HTTP ${String(res.status)}`);
        this.stats.uploaded += c.events.length;
      } catch (err) {
        this.failures++;
        this.stats.failedAttempts++;
        this.opts.onUploadError(err as Error);
        // Requeue the unsent chunks' events ahead of anything logged meanwhile.
        this.requeue(chunks.slice(i).flatMap((x) => x.events));
        return;
      }
    }
    this.failures = 0;
  }

  /**
   * One last attempt to send what is left; whatever could not be sent is counted as dropped.
   * Stopping again waits for the same stop (closing the agent twice throws).
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.uploading) await this.uploading;
    await this.uploadOnce().catch((err: unknown) => { this.opts.onUploadError(err instanceof Error ? err : new Error(String(err))); });
    if (this.buffer.length > 0) this.opts.onDrop(this.takeAll().length, 'not uploaded before shutdown');
    await this.agent.close();
  }

  /** Uploads now (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.uploading) await this.uploading;
    this.uploading = this.uploadOnce().catch((err: unknown) => { this.opts.onUploadError(err instanceof Error ? err : new Error(String(err))); }).finally(() => { this.uploading = null; });
    await this.uploading;
    if (this.buffer.length > 0) this.arm(this.nextDelay());
  }
}
