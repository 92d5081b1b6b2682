// Webhook notifications. notify() only enqueues: delivery happens in the background, is
// retried with exponential backoff up to the webhook's max_attempts, and what cannot be
// delivered (or does not fit in the queue) is dropped and counted. A slow or failing
// receiver never blocks or fails a workflow step, nor delays or crowds out another
// webhook's deliveries: each webhook has its own queue bound and deliveries in flight.
import { randomUUID } from 'node:crypto';
import { fetchLimited } from '../fetch-limited.js';
import type { WorkflowEvent } from '../grants/index.js';
import type { NotifyConfig, WebhookConfig } from './config.js';
import { chatText, genericPayload } from './payload.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signature } from './sign.js';

export interface NotifyLogger {
  warn(fields: object, message: string): void;
}

export interface NotifierOptions {
  onDrop?: (count: number) => void;
  /** Deliveries waiting or in flight per webhook (including retries); beyond this its new ones are dropped. */
  maxQueue?: number;
  /** First retry delay; doubles per attempt up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  /** Deliveries in flight at once, per webhook. */
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Notifier {
  notify(event: WorkflowEvent): void;
  start(): void;
  /** Stops retrying; waits briefly for deliveries in flight. */
  stop(): Promise<void>;
  readonly dropped: number;
  readonly delivered: number;
  readonly queued: number;
}

interface Delivery {
  hook: WebhookConfig;
  secret: string | null;
  id: string;
  type: string;
  body: string;
  attempt: number;
  notBefore: number;
}

class WebhookNotifier implements Notifier {
  #queue: Delivery[] = [];
  #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #dropped = 0;
  #delivered = 0;
  readonly #abort = new AbortController();
  readonly #maxQueue: number;
  readonly #baseDelay: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #concurrency: number;
  readonly #secrets = new Map<string, string | null>();
  /** Per webhook (by config entry): deliveries queued or in flight, and those in flight. */
  readonly #pending = new Map<WebhookConfig, number>();
  readonly #sending = new Map<WebhookConfig, number>();

  constructor(
    private readonly config: NotifyConfig,
    private readonly logger: NotifyLogger,
    private readonly options: NotifierOptions,
  ) {
    this.#maxQueue = options.maxQueue ?? 1000;
    this.#baseDelay = options.baseDelayMs ?? 500;
    this.#maxDelay = options.maxDelayMs ?? 60_000;
    this.#timeout = options.timeoutMs ?? 5000;
    this.#concurrency = options.concurrency ?? 4;
    const env = options.env ?? process.env;
    for (const hook of config.webhooks) {
      const secret = hook.secret_env ? env[hook.secret_env] ?? '' : null;
      if (secret === '') logger.warn({ webhook: hook.name, secret_env: hook.secret_env }, 'webhook signing secret is not set: its notifications are dropped');
      this.#secrets.set(hook.name, secret);
    }
  }

  get dropped(): number {
    return this.#dropped;
  }

  get delivered(): number {
    return this.#delivered;
  }

  get queued(): number {
    return this.#queue.length + this.#inFlight.size;
  }

  start(): void {
    this.#stopped = false;
  }

  notify(event: WorkflowEvent): void {
    try {
      if (this.#stopped) return;
      for (const hook of this.config.webhooks) {
        if (hook.events.length > 0 && !hook.events.includes(event.type)) continue;
        const secret = this.#secrets.get(hook.name) ?? null;
        if (secret === '') {
          this.#drop(1);
          continue;
        }
        if ((this.#pending.get(hook) ?? 0) >= this.#maxQueue) {
          this.#drop(1);
          continue;
        }
        const id = randomUUID();
        const body = JSON.stringify(hook.format === 'chat' ? { text: chatText(event) } : genericPayload(id, event));
        this.#queue.push({ hook, secret, id, type: event.type, body, attempt: 0, notBefore: 0 });
        this.#count(this.#pending, hook, 1);
      }
      this.#pump();
    } catch (err) {
      // Never into the workflow.
      this.logger.warn({ err }, 'notification could not be queued');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const waiting = [...this.#inFlight];
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
    await Promise.race([Promise.all(waiting), grace]);
    this.#abort.abort();
    if (this.#queue.length > 0) this.#drop(this.#queue.length);
    for (const d of this.#queue) this.#count(this.#pending, d.hook, -1);
    this.#queue = [];
  }

  #count(counts: Map<WebhookConfig, number>, hook: WebhookConfig, by: number): void {
    counts.set(hook, (counts.get(hook) ?? 0) + by);
  }

  #drop(n: number): void {
    this.#dropped += n;
    this.options.onDrop?.(n);
  }

  /**
   * Starts what is due, oldest first, up to each webhook's concurrency limit (a receiver that
   * holds its slots only ever waits for itself), and wakes up for the next retry.
   */
  #pump(): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (;;) {
      const i = this.#queue.findIndex((d) => d.notBefore <= now && (this.#sending.get(d.hook) ?? 0) < this.#concurrency);
      if (i < 0) break;
      const [d] = this.#queue.splice(i, 1);
      if (!d) break;
      this.#count(this.#sending, d.hook, 1);
      const p = this.#send(d).finally(() => {
        this.#inFlight.delete(p);
        this.#count(this.#sending, d.hook, -1);
        this.#pump();
      });
      this.#inFlight.add(p);
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // Only retries not yet due set the timer: a due delivery waiting for its webhook's slot is
    // started when a slot frees (a timer for it would fire at once, over and over).
    const later = this.#queue.filter((d) => d.notBefore > now);
    if (later.length > 0) {
      const next = Math.min(...later.map((d) => d.notBefore));
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, Math.max(0, next - now));
      this.#timer.unref();
    }
  }

  async #send(d: Delivery): Promise<void> {
    d.attempt++;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'jitgate-webhook',
      'x-jitgate-event': d.type,
      'x-jitgate-delivery': d.id,
      [TIMESTAMP_HEADER]: timestamp,
    };
    if (d.secret !== null) headers[SIGNATURE_HEADER] = signature(d.secret, timestamp, d.body);
    let problem: string;
    try {
      // Only the status counts: the answer's body is never read into memory (a receiver could
      // send gigabytes within the timeout), but cancelled, which frees the connection at once. Our
      // own deadline, not AbortSignal.timeout(): after a garbage collection that no longer
      // reaches fetch (undici #4068), and a receiver that never answered held its delivery slot for good.
      const res = await fetchLimited(d.hook.url, { method: 'POST', headers, body: d.body, redirect: 'manual' },
        { timeoutMs: this.#timeout, maxBytes: null, signal: this.#abort.signal });
      if (res.status >= 200 && res.status < 300) {
        this.#delivered++;
        this.#count(this.#pending, d.hook, -1);
        return;
      }
      problem = `status ${res.status}`;
    } catch (err) {
      problem = (err as Error).message;
    }
    if (this.#stopped || d.attempt >= d.hook.max_attempts) {
      this.logger.warn({ webhook: d.hook.name, event: d.type, attempts: d.attempt, problem }, 'webhook notification dropped');
      this.#count(this.#pending, d.hook, -1);
      this.#drop(1);
      return;
    }
    const delay = Math.min(this.#maxDelay, this.#baseDelay * 2 ** (d.attempt - 1));
    d.notBefore = Date.now() + delay;
    this.#queue.push(d);
  }
}

export function createNotifier(config: NotifyConfig, logger: NotifyLogger, options: NotifierOptions = {}): Notifier {
  return new WebhookNotifier(config, logger, options);
}
