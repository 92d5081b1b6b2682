// Last line of defence for "secrets never leave the gateway": an upstream that echoes its request
// (headers into response headers or the body) would hand the injected credential to the caller. Every
// occurrence is overwritten with '*' of the same length, so Content-Length stays right and streaming
// stays streaming. A compressed body cannot be scanned: while the gateway holds a secret the
// upstream is asked for identity, and a compressed answer is decompressed first, or refused (decode.ts).

/** Header names seen, and whether each holds a secret form (names repeat from response to response). */
const MAX_NAMES_KEPT = 1024;

export class SecretMasker {
  private readonly needles: Buffer[];
  private readonly strings: string[];
  /** The forms lower-cased, as header names arrive. */
  private readonly lowered: string[];
  private readonly names = new Map<string, boolean>();

  constructor(secrets: readonly string[]) {
    // Short values would mask ordinary content; the config never has secrets that short in practice.
    const uniq = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
    this.needles = uniq.map((s) => Buffer.from(s, 'utf8'));
    // Header values arrive decoded as latin1 (undici): a secret beyond ASCII is met there as its
    // UTF-8 bytes read one by one, and is written back out as those bytes.
    const asLatin1 = this.needles.map((n) => n.toString('latin1'));
    this.strings = [...new Set([...uniq, ...asLatin1])].sort((a, b) => b.length - a.length);
    this.lowered = [...new Set(this.strings.map((s) => s.toLowerCase()))];
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  maskString = (value: string): string => {
    let out = value;
    for (const s of this.strings) if (out.includes(s)) out = out.replaceAll(s, '*'.repeat(s.length));
    return out;
  };

  /** A response header as the caller may get it: its value masked, or undefined when its name holds a secret. */
  maskedHeader(name: string, value: string | string[]): string | string[] | undefined {
    if (this.nameHoldsSecret(name)) return undefined;
    return Array.isArray(value) ? value.map(this.maskString) : this.maskString(value);
  }

  /**
   * Masks response headers in place again after the gateway rewrote some (a URL parser drops a
   * tab that split a secret).
   */
  maskHeaders(headers: Record<string, string | string[]>): void {
    for (const name of Object.keys(headers)) {
      const masked = this.maskedHeader(name, headers[name] as string | string[]);
      if (masked === undefined) Reflect.deleteProperty(headers, name);
      else headers[name] = masked;
    }
  }

  /** Whether a (lower-case) header name holds a secret form in any letter case. */
  private nameHoldsSecret(name: string): boolean {
    let holds = this.names.get(name);
    if (holds === undefined) {
      holds = this.lowered.some((s) => name.includes(s));
      // Bounded: an upstream inventing names cannot grow it without limit.
      if (this.names.size >= MAX_NAMES_KEPT) this.names.clear();
      this.names.set(name, holds);
    }
    return holds;
  }

  private contains(buf: Buffer): boolean {
    for (const n of this.needles) if (buf.includes(n)) return true;
    return false;
  }

  /** Masks every whole occurrence in place. */
  maskBuffer(buf: Buffer): void {
    for (const n of this.needles) {
      let at = buf.indexOf(n);
      while (at >= 0) {
        buf.fill(0x2a, at, at + n.length);
        at = buf.indexOf(n, at + n.length);
      }
    }
  }

  /**
   * How many trailing bytes of `buf` could be the start of a secret continuing in the next chunk.
   * Usually 0, so chunks pass through whole (one write, no added latency).
   */
  partialTail(buf: Buffer): number {
    let longest = 0;
    for (const n of this.needles) {
      for (let k = Math.min(n.length - 1, buf.length); k > longest; k--) {
        if (buf[buf.length - k] === n[0] && buf.compare(n, 0, k, buf.length - k) === 0) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }

  /** A stateful chunk filter: push() returns what may be sent now, end() the held-back rest. */
  filter(): { push(chunk: Buffer): Buffer; end(): Buffer | null } {
    let held: Buffer | null = null;
    return {
      push: (chunk: Buffer): Buffer => {
        // Common case: nothing to mask, nothing to hold: the chunk passes untouched (no copy).
        if (!held && !this.contains(chunk) && this.partialTail(chunk) === 0) return chunk;
        // Copy: the chunk may be shared (undici's buffers) and masking writes in place.
        const buf = held ? Buffer.concat([held, chunk]) : Buffer.from(chunk);
        this.maskBuffer(buf);
        const keep = this.partialTail(buf);
        held = keep > 0 ? buf.subarray(buf.length - keep) : null;
        return keep > 0 ? buf.subarray(0, buf.length - keep) : buf;
      },
      end: (): Buffer | null => held,
    };
  }
}
