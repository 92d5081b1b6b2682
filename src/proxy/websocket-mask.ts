// The secret masker for WebSockets: an upstream could echo its handshake's credential in a message,
// and the frames it sends are plain bytes once compression is refused (headers.ts drops the caller's
// Sec-WebSocket-Extensions when a secret is injected). Frames are parsed, never held whole: payload
// bytes pass as they come, except a tail that could begin a secret continuing in the next bytes of
// the same message, which waits for them (or for the message's end).
import { Transform, type TransformCallback } from 'node:stream';
import type { SecretMasker } from './redact.js';

/** A frame the masker cannot read: it would pass unread, so the session ends instead. */
export class UnreadableFrame extends Error {
  override name = 'UnreadableFrame';
}

interface Segment {
  bytes: Buffer;
  /** Part of a data message's payload (what secrets are looked for in), not framing or a control frame. */
  payload: boolean;
}

/** RFC 6455 5.2: FIN, RSV1-3 and the opcode in the first byte; MASK and the length in the second. */
const FIN = 0x80;
const RSV = 0x70;
const MASKED = 0x80;
/** The opcode bit of control frames (close, ping, pong): at most 125 bytes, never fragmented. */
const CONTROL = 0x08;

/** Segments that may wait behind a held tail (the start of a possible secret) before the session ends. */
const MAX_QUEUED = 64;

/** Upstream-to-caller frames with every secret the masker knows overwritten in their payloads. */
export class FrameMasker extends Transform {
  /** Bytes of the frame header being read (2 to 10 bytes; servers send no masking key). */
  private head: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to come; null while its header is being read. */
  private remaining: number | null = null;
  private fin = true;
  /** The current frame is a control frame: read whole, then masked on its own. */
  private control: Buffer[] | null = null;
  /** Read but not yet sent, in order: framing, control frames and payload held for a secret's tail. */
  private pending: Segment[] = [];

  constructor(private readonly masker: SecretMasker) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.scan(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    // A connection ending mid-frame: what was held goes, masked as far as it was seen.
    this.settle(false);
    done();
  }

  private scan(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === null) {
        at = this.readHead(chunk, at);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      const part = chunk.subarray(at, at + take);
      at += take;
      this.remaining -= take;
      if (this.control) this.control.push(part);
      else this.pending.push({ bytes: part, payload: true });
      if (this.remaining === 0) this.endFrame();
      else if (!this.control) this.settle(true);
    }
  }

  /** Reads header bytes from `chunk` at `at`; returns where the header (or the chunk) ends. */
  private readHead(chunk: Buffer, at: number): number {
    const need = this.head.length < 2 ? 2 : headLength(this.head);
    const take = Math.min(need - this.head.length, chunk.length - at);
    this.head = Buffer.concat([this.head, chunk.subarray(at, at + take)]);
    if (this.head.length < need) return at + take;
    if (need === 2 && headLength(this.head) > 2) return at + take;
    const first = this.head[0] ?? 0;
    const second = this.head[1] ?? 0;
    if ((second & MASKED) !== 0) throw new UnreadableFrame('the upstream sent a masked frame');
    if ((first & RSV) !== 0) throw new UnreadableFrame('the upstream sent a frame with an extension bit set');
    const length = payloadLength(this.head);
    const isControl = (first & CONTROL) !== 0;
    if (isControl && length > 125) throw new UnreadableFrame('the upstream sent a control frame longer than 125 bytes');
    this.remaining = length;
    if (isControl) {
      this.control = [this.head];
    } else {
      this.fin = (first & FIN) !== 0;
      this.pending.push({ bytes: this.head, payload: false });
    }
    this.head = Buffer.alloc(0);
    if (length === 0) this.endFrame();
    return at + take;
  }

  private endFrame(): void {
    if (this.control) {
      const [head, ...parts] = this.control;
      const payload = Buffer.concat(parts);
      this.masker.maskBuffer(payload);
      // Behind whatever of an interrupted message is still held: bytes leave in the order they came.
      this.pending.push({ bytes: Buffer.concat([head ?? Buffer.alloc(0), payload]), payload: false });
      this.control = null;
    }
    this.remaining = null;
    this.settle(!this.fin);
  }

  /**
   * Masks the held payload bytes together (a secret may span chunks and frames of one message) and
   * sends everything up to the tail that could begin a secret; `mayContinue` false sends it all.
   */
  private settle(mayContinue: boolean): void {
    const held = this.pending.filter((s) => s.payload);
    let keep = 0;
    if (held.length > 0) {
      const text = Buffer.concat(held.map((s) => s.bytes));
      this.masker.maskBuffer(text);
      let offset = 0;
      for (const s of held) {
        s.bytes = text.subarray(offset, offset + s.bytes.length);
        offset += s.bytes.length;
      }
      keep = mayContinue ? this.masker.partialTail(text) : 0;
    }
    // Frames queue behind a held tail (control frames, tiny fragments). Past a bound the session
    // ends: letting the tail go unmasked would hand out a secret cut into frames of a byte or two.
    if (keep > 0 && this.pending.length > MAX_QUEUED) {
      throw new UnreadableFrame(`the upstream sent more than ${String(MAX_QUEUED)} frame parts while the start of a secret was held back`);
    }
    let sendable = held.reduce((n, s) => n + s.bytes.length, 0) - keep;
    const out: Buffer[] = [];
    while (this.pending.length > 0) {
      const s = this.pending[0] as Segment;
      if (!s.payload) {
        out.push(s.bytes);
        this.pending.shift();
        continue;
      }
      if (sendable >= s.bytes.length) {
        out.push(s.bytes);
        sendable -= s.bytes.length;
        this.pending.shift();
        continue;
      }
      if (sendable > 0) {
        out.push(s.bytes.subarray(0, sendable));
        s.bytes = s.bytes.subarray(sendable);
      }
      break;
    }
    if (out.length > 0) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
  }
}

/** The header's whole length, from its first two bytes: 2, then 2 or 8 more for longer payloads. */
function headLength(head: Buffer): number {
  const len = (head[1] ?? 0) & 0x7f;
  return len === 126 ? 4 : len === 127 ? 10 : 2;
}

function payloadLength(head: Buffer): number {
  const len = (head[1] ?? 0) & 0x7f;
  if (len === 126) return head.readUInt16BE(2);
  if (len < 126) return len;
  const long = head.readBigUInt64BE(2);
  if (long > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnreadableFrame('the upstream sent a frame longer than 2^53 bytes');
  return Number(long);
}
