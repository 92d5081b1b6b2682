// Streams an upstream's answer to the caller straight from undici's dispatcher: each chunk goes
// from undici's parser to the caller's socket (masked on the way; decompressed first when the
// masker must read a body the upstream compressed, decode.ts), with backpressure both ways.
// A caller that stops taking the answer is cut off after a while: held back, undici never times
// the upstream out (its body timer does not run while paused), so a caller that never reads would
// hold an upstream connection, and its own, for good. A response still streaming a while after
// its decision gets its session watched (session-watch.ts) from then on, data flowing or not;
// most are over long before (linger.ts finds the others).
// `Pool.request()` would build, per response, an async resource, a Readable body stream and a
// promise around it; the handler interface skips all three, which measured about a fifth of a
// bare proxy's CPU per request (docs/benchmarks.md, "Data path").
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { bodyReading, decodedHead } from './decode.js';
import { onlyChunked } from './headers.js';
import { noteResponse, type LingerCandidate } from './linger.js';
import type { SecretMasker } from './redact.js';

export interface Relayed {
  statusCode: number;
  /** When the upstream's status line and headers arrived (process.hrtime.bigint()). */
  headersAtNs: bigint;
  /** Null when relayed whole; otherwise why the caller's connection was cut mid-body. */
  cutOff: 'caller_left' | 'caller_stopped_reading' | 'upstream_failed' | null;
}

/** The caller's response headers, made from the upstream's. */
export type ResponseHead = (upstreamHeaders: IncomingHttpHeaders) => Record<string, string | string[]>;

/**
 * The upstream compressed a response the caller must get masked in a way it cannot be decoded in
 * (decode.ts): the masker could not read it, so it is not relayed.
 */
export class EncodedResponse extends Error {
  override name = 'EncodedResponse';
}

/** The caller closed its connection before the upstream's answer came, and the call was abandoned. */
export class CallerClosed extends Error {
  override name = 'CallerClosed';
  constructor() {
    super('the caller closed the connection');
  }
}

export interface RelayOptions {
  /** Cut the caller off when it takes nothing of the response for this long. */
  stallMs: number;
  /** From this time on (ms since the epoch) a response whose upstream body is still coming is `linger`ing. */
  lingerAtMs: number;
  /** Starts watching a lingering response; stopped when the relay is over. Null: never watched. */
  linger: (() => { stop(): void }) | null;
  /**
   * The gateway holds a secret (and the request was not HEAD): a compressed body is decompressed
   * for the masker and sent on decompressed, or refused when it cannot be.
   */
  maskedOnly: boolean;
  /**
   * How long the final answer may take once the upstream sent an interim (1xx) one: undici starts
   * its head timer again on each, so an upstream sending `102 Processing` forever would never be
   * timed out.
   */
  headersMs: number;
}

type Controller = Dispatcher.DispatchController;

class UpstreamRelay implements Dispatcher.DispatchHandler, LingerCandidate {
  private controller: Controller | null = null;
  private filter: ReturnType<SecretMasker['filter']> | null = null;
  /** Decompresses a compressed body for the masker (maskedOnly); null: the body is read as it comes. */
  private decoder: Transform | null = null;
  private statusCode = 0;
  private headersAtNs = 0n;
  private settled = false;
  private upstreamDone = false;
  /** Armed while the caller's socket is full; fires when the caller took nothing for `stallMs`. */
  private stall: NodeJS.Timeout | null = null;
  private stalled = false;
  /** Armed for a response that outlived its first turn: fires when it starts to linger. */
  private lingerTimer: NodeJS.Timeout | null = null;
  private watching: { stop(): void } | null = null;
  /** Armed at the first interim answer: fires when the final one has not come within headersMs. */
  private interim: NodeJS.Timeout | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly masker: SecretMasker | null,
    private readonly head: ResponseHead,
    private readonly opts: RelayOptions,
    private readonly resolve: (r: Relayed) => void,
    private readonly reject: (err: Error) => void,
  ) {
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
  }

  private readonly onDrain = (): void => {
    this.clearStall();
    // Decoding, the upstream is resumed by the decoder's own drain.
    if (this.decoder) this.decoder.resume();
    else this.controller?.resume();
  };

  /** The caller went away first: abandon the upstream call (at once, or as soon as it starts). */
  private readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    // Settled first: the abort calls back into onResponseError, which would blame the upstream.
    if (this.statusCode !== 0) this.finish(this.stalled ? 'caller_stopped_reading' : 'caller_left');
    this.controller?.abort(new CallerClosed());
  };

  private armStall(): void {
    this.stall ??= setTimeout(() => {
      this.stalled = true;
      this.res.destroy();
    }, this.opts.stallMs);
  }

  streaming(): boolean {
    return this.statusCode !== 0 && !this.upstreamDone && !this.settled;
  }

  outlivedTurn(): void {
    try {
      // Node holds a written head back until the first chunk: an event stream's caller would wait
      // for its first event to learn the status. Here the head goes out alone.
      this.res.flushHeaders();
      if (this.opts.linger === null) return;
      this.lingerTimer = setTimeout(() => { this.startWatch(); }, Math.max(0, this.opts.lingerAtMs - Date.now()));
    } catch {
      // A response that cannot be watched does not go on unwatched.
      this.res.destroy();
    }
  }

  private startWatch(): void {
    this.lingerTimer = null;
    if (!this.streaming() || this.opts.linger === null) return;
    try {
      this.watching = this.opts.linger();
    } catch {
      this.res.destroy();
    }
  }

  private clearInterim(): void {
    if (this.interim === null) return;
    clearTimeout(this.interim);
    this.interim = null;
  }

  private clearStall(): void {
    if (this.stall === null) return;
    clearTimeout(this.stall);
    this.stall = null;
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new CallerClosed());
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx answers are the upstream's business with us; the caller gets the final one, in time.
    if (statusCode < 200) {
      this.interim ??= setTimeout(() => { controller.abort(new undiciErrors.HeadersTimeoutError()); }, this.opts.headersMs);
      return;
    }
    this.clearInterim();
    // undici undoes only `chunked`: another transfer coding would reach the caller unlabelled,
    // and past the masker still coded. The gateway asks for none (the caller's TE is dropped).
    const transfer = headers['transfer-encoding'] as string | string[] | undefined;
    if (transfer !== undefined && !onlyChunked(transfer)) {
      controller.abort(new EncodedResponse(`the upstream sent a body in transfer coding "${String(transfer)}", which is not relayed`));
      return;
    }
    const reading = this.opts.maskedOnly && this.masker !== null && !this.masker.empty && headers['content-encoding'] !== undefined
      ? bodyReading(headers, statusCode)
      : null;
    if (reading?.kind === 'unreadable') {
      controller.abort(new EncodedResponse(`the upstream sent a body in content encoding "${reading.coding}", which cannot be decoded to check it for secrets`));
      return;
    }
    const headersAtNs = process.hrtime.bigint();
    try {
      const out = this.head(headers);
      if (reading?.kind === 'decoded') decodedHead(out);
      this.res.writeHead(statusCode, out);
    } catch (err) {
      // A head Node will not write (say, a header value it refuses): nothing was sent, so the
      // caller still gets the gateway's error answer.
      if (reading?.kind === 'decoded') reading.decoder.destroy();
      controller.abort(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.statusCode = statusCode;
    this.headersAtNs = headersAtNs;
    if (this.masker && !this.masker.empty) this.filter = this.masker.filter();
    if (reading?.kind === 'decoded') this.decode(reading.decoder, controller);
    noteResponse(this);
  }

  /** Upstream bytes go through `decoder`; what it gives goes to the caller, each side held back by the next. */
  private decode(decoder: Transform, controller: Controller): void {
    this.decoder = decoder;
    decoder.on('data', (plain: Buffer) => {
      if (!this.toCaller(plain)) decoder.pause();
    });
    decoder.on('drain', () => { controller.resume(); });
    decoder.on('end', () => { this.endToCaller(); });
    decoder.on('error', (err) => {
      // Headers are sent: the caller can only be cut off.
      this.finish('upstream_failed');
      controller.abort(err);
    });
  }

  /** Writes to the caller; false when its socket is full (and the stall timer then runs). */
  private toCaller(chunk: Buffer): boolean {
    const out = this.filter ? this.filter.push(chunk) : chunk;
    if (out.length === 0 || this.res.write(out)) return true;
    this.armStall();
    return false;
  }

  private endToCaller(): void {
    const rest = this.filter?.end();
    this.res.end(rest ?? undefined, () => { this.finish(null); });
    // The upstream is done; the caller still has to take the rest.
    if (this.res.writableNeedDrain) this.armStall();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.decoder) {
      if (!this.decoder.write(chunk)) controller.pause();
      return;
    }
    if (!this.toCaller(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.upstreamDone = true;
    if (this.decoder) this.decoder.end();
    else this.endToCaller();
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.statusCode === 0) {
      this.detach();
      this.settled = true;
      this.reject(err);
      return;
    }
    this.finish('upstream_failed');
  }

  private finish(cutOff: Relayed['cutOff']): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    if (cutOff !== null) this.res.destroy();
    this.resolve({ statusCode: this.statusCode, headersAtNs: this.headersAtNs, cutOff });
  }

  private detach(): void {
    this.clearStall();
    this.clearInterim();
    // Once settled nothing more is decoded (a caller gone, an upstream failed, or all of it sent).
    this.decoder?.destroy();
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.watching?.stop();
    this.res.off('drain', this.onDrain);
    this.res.off('close', this.onClose);
  }
}

/**
 * Sends the request through `dispatcher` and the answer to `res`, its body masked by `masker`
 * (null: relayed as is), within `relay`'s limits. Rejects, with nothing written to the caller,
 * when the upstream fails before its response head; resolves once the response has been relayed
 * or cut off.
 */
export function relayUpstream(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  res: ServerResponse,
  masker: SecretMasker | null,
  head: ResponseHead,
  relay: RelayOptions,
): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new UpstreamRelay(res, masker, head, relay, resolve, reject));
  });
}
