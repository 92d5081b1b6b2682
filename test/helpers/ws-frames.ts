// WebSocket frames as RFC 6455 lays them out, built and read by hand so the tests control every
// bit (fragments, control frames between them, masked or extension frames an upstream must not send).

export interface FrameSpec {
  /** 1 text (the default), 2 binary, 0 continuation, 8 close, 9 ping, 10 pong. */
  opcode?: number;
  /** Last frame of its message (default true). */
  fin?: boolean;
  /** Masked with this key, as only clients may send. */
  maskKey?: Buffer;
  /** RSV1, which permessage-deflate sets on compressed messages. */
  rsv1?: boolean;
}

export function wsFrame(payload: string | Buffer, spec: FrameSpec = {}): Buffer {
  const body = Buffer.from(payload);
  const first = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.opcode ?? 1);
  const mask = spec.maskKey ? 0x80 : 0;
  let head: Buffer;
  if (body.length < 126) {
    head = Buffer.from([first, mask | body.length]);
  } else if (body.length < 65536) {
    head = Buffer.alloc(4);
    head.writeUInt16BE(body.length, 2);
    head[0] = first;
    head[1] = mask | 126;
  } else {
    head = Buffer.alloc(10);
    head.writeBigUInt64BE(BigInt(body.length), 2);
    head[0] = first;
    head[1] = mask | 127;
  }
  if (!spec.maskKey) return Buffer.concat([head, body]);
  const key = spec.maskKey;
  return Buffer.concat([head, key, body.map((b, i) => b ^ (key[i % 4] ?? 0))]);
}

export interface ReadFrame {
  fin: boolean;
  opcode: number;
  payload: string;
}

/** The complete unmasked frames in `bytes`, and how many bytes they took. */
export function wsFrames(bytes: Buffer): { frames: ReadFrame[]; used: number } {
  const frames: ReadFrame[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < 2) break;
    const first = bytes[at] ?? 0;
    const len7 = (bytes[at + 1] ?? 0) & 0x7f;
    const headLen = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
    if (bytes.length - at < headLen) break;
    const len = len7 === 126 ? bytes.readUInt16BE(at + 2) : len7 === 127 ? Number(bytes.readBigUInt64BE(at + 2)) : len7;
    if (bytes.length - at - headLen < len) break;
    frames.push({ fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload: bytes.subarray(at + headLen, at + headLen + len).toString('utf8') });
    at += headLen + len;
  }
  return { frames, used: at };
}

/** The text of the single frame in `bytes` (what an echo upstream sent back). */
export function wsText(bytes: Buffer): string {
  const { frames, used } = wsFrames(bytes);
  if (frames.length !== 1 || used !== bytes.length) throw new Error(`expected one whole frame, got ${frames.length} (${used} of ${bytes.length} bytes)`);
  return frames[0]?.payload ?? '';
}
