// Local JSONL decision log with size-based rotation: `path` is current, `path.1` the
// previous one, ... up to max_files files in all. Writes are batched and asynchronous.
// The current file stays open between batches (one append per batch, not open/write/close:
// this runs under every proxied request); it is closed to rotate and when the sink closes.
// Each line is encoded to UTF-8 when it is logged, into a large slab shared with the lines
// after it, so a batch is a few contiguous views of slabs, written with one writev: no joining,
// no re-encoding, and no long-lived strings for the garbage collector to promote.
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileSinkOptions {
  path: string;
  max_bytes: number;
  max_files: number;
  /** Lines waiting to be written beyond this are dropped (counted). */
  maxPending: number;
  onDrop: (count: number, reason: string) => void;
  /** The file was removed or replaced under the open handle (logrotate, an operator): it is opened anew. */
  onReopen?: (why: string) => void;
}

/** How often the path is checked to still name the open file. */
const PATH_CHECK_MS = 1_000;

/**
 * A batch is written this long after its first line: under load one append then carries many
 * events. Each append costs far more than its syscall: the thread-pool round trip, and with the
 * gateway on one core, the switches to and from the pool's thread. Measured on the benchmark
 * (interleaved A/B, bench/proxy-jitgate.ts): 5 ms cost about 3 µs more CPU per proxied request
 * than 25 ms, and 25 ms about 2 µs more than 100 ms. Up to this long of decisions is what a
 * crash (not a stop: stopping writes everything) can lose; the audit trail is the durable record.
 */
const BATCH_DELAY_MS = 50;

/** Lines are encoded into slabs this large; a line over a quarter of it gets its own buffer unless the current slab surely has room. */
const SLAB_BYTES = 1024 * 1024;

/** Full slabs kept for reuse. Reusing them matters: fresh off-heap memory at the log's rate makes V8 run full (mark-compact) collections. */
const SPARE_SLABS = 4;

/**
 * Encodes lines back to back into slabs. A full slab is retired; once every line in it is
 * written (see takeRetired/recycle) it is used again rather than left to the collector.
 */
class LineEncoder {
  private slab: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;
  private retired: Buffer[] = [];
  private readonly spare: Buffer[] = [];

  /** `line` and a newline as UTF-8: a view into the current slab. */
  encode(line: string): Buffer {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: with that much room the line is written
    // without measuring it first (a second pass over every line).
    if (line.length * 3 < SLAB_BYTES - this.used) {
      const start = this.used;
      const end = start + this.slab.write(line, start);
      this.slab[end] = 0x0a;
      this.used = end + 1;
      return this.slab.subarray(start, end + 1);
    }
    const bytes = Buffer.byteLength(line) + 1;
    if (bytes > SLAB_BYTES / 4) {
      const own = Buffer.allocUnsafe(bytes);
      own.write(line);
      own[bytes - 1] = 0x0a;
      return own;
    }
    if (this.used + bytes > SLAB_BYTES) {
      this.retired.push(this.slab);
      this.slab = this.spare.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const start = this.used;
    this.slab.write(line, start);
    this.slab[start + bytes - 1] = 0x0a;
    this.used += bytes;
    return this.slab.subarray(start, start + bytes);
  }

  /**
   * The slabs retired so far. Every line in them was queued before this call, so once the
   * batch taken with it (and the ones before) is written or dropped, they may be recycled.
   */
  takeRetired(): Buffer[] {
    const slabs = this.retired;
    this.retired = [];
    return slabs;
  }

  recycle(slabs: readonly Buffer[]): void {
    for (const slab of slabs) if (this.spare.length < SPARE_SLABS) this.spare.push(slab);
  }
}

/** The lines as few buffers: lines lying back to back in one slab (the usual case) become one view. */
function runs(lines: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let first: Buffer | undefined;
  let length = 0;
  for (const line of lines) {
    if (first !== undefined && line.buffer === first.buffer && line.byteOffset === first.byteOffset + length) {
      length += line.length;
      continue;
    }
    if (first !== undefined) out.push(Buffer.from(first.buffer, first.byteOffset, length));
    first = line;
    length = line.length;
  }
  if (first !== undefined) out.push(Buffer.from(first.buffer, first.byteOffset, length));
  return out;
}

export class FileSink {
  private pending: Buffer[] = [];
  private readonly encoder = new LineEncoder();
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Bytes in the current file; null until it is open. */
  private size: number | null = null;
  private handle: FileHandle | null = null;
  private checkedAt = 0;
  /** A failed write left part of a line that could not be cut off: the next write starts a new line. */
  private tornTail = false;
  /** Why the last batch did not all land (a system error code, or the refusal's words). */
  private failure: string | null = null;

  constructor(private readonly opts: FileSinkOptions) {}

  write(line: string): void {
    if (this.pending.length >= this.opts.maxPending) {
      this.opts.onDrop(1, 'file sink backlog full');
      return;
    }
    this.pending.push(this.encoder.encode(line));
    this.schedule();
  }

  /** One batch is written at a time; the next is scheduled when it is done. */
  private schedule(): void {
    if (this.writing !== null || this.timer !== null || this.pending.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.startBatch();
    }, BATCH_DELAY_MS);
  }

  private startBatch(): void {
    if (this.writing !== null || this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const slabs = this.encoder.takeRetired();
    this.writing = this.writeLines(lines)
      .then((landed) => { if (landed < lines.length) this.opts.onDrop(lines.length - landed, `file sink write failed${this.failure === null ? '' : ` (${this.failure})`}`); })
      .finally(() => {
        this.encoder.recycle(slabs);
        this.writing = null;
        this.schedule();
      });
  }

  /** Writes the lines; how many of them are in the file, whole (the rest are counted as dropped). */
  private async writeLines(lines: Buffer[]): Promise<number> {
    const { max_bytes } = this.opts;
    let landed = 0;
    this.failure = null;
    try {
      await this.followPath();
      await this.ensureOpen();
      let size = this.size ?? 0;
      // Fill the current file up to max_bytes, rotate, continue: no file grows past the limit
      // unless a single event is larger than it.
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for (const line of lines) {
        const bytes = line.length;
        if (size + batchBytes + bytes > max_bytes && size + batchBytes > 0) {
          if (batch.length > 0) await this.append(runs(batch), batchBytes, size);
          landed += batch.length;
          batch = [];
          batchBytes = 0;
          await this.rotate();
          await this.ensureOpen();
          size = this.size ?? 0;
        }
        batch.push(line);
        batchBytes += bytes;
      }
      if (batch.length > 0) {
        await this.append(runs(batch), batchBytes, size);
        landed += batch.length;
        this.size = size + batchBytes;
      }
    } catch (err) {
      // Counted by the caller: the lines not landed. Why, in a word the drop report can group by.
      const code = (err as NodeJS.ErrnoException).code;
      this.failure = code ?? (err instanceof Error ? err.message : String(err));
    }
    return landed;
  }

  /**
   * At most once a second: whether the path still names the open file. One removed or replaced
   * under it (an operator, logrotate without copytruncate) would take every later event into a
   * file nobody can read: it is opened anew at the path.
   */
  private async followPath(): Promise<void> {
    const handle = this.handle;
    const now = Date.now();
    if (handle === null || now - this.checkedAt < PATH_CHECK_MS) return;
    this.checkedAt = now;
    const [open, named] = await Promise.all([handle.stat(), stat(this.opts.path).catch(() => null)]);
    if (named !== null && named.dev === open.dev && named.ino === open.ino) return;
    await this.closeHandle();
    this.opts.onReopen?.(named === null ? 'the decision log file was removed' : 'the decision log file was replaced');
  }

  /** The current file, opened (and its size learned) when it is not open. */
  private async ensureOpen(): Promise<FileHandle> {
    if (this.handle !== null) return this.handle;
    await mkdir(dirname(this.opts.path), { recursive: true, mode: 0o700 });
    // Events hold request details. A link at the path is not followed (it could name any file
    // for the gateway to append to), and a file another account made there first is not written
    // (that account would read every event).
    const handle = await open(this.opts.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const st = await handle.stat();
      // Rotation renames the path: pointed at /dev/null (to do without the file), a gateway
      // running as root moved the system's /dev/null aside and left a plain file in its place.
      if (!st.isFile()) {
        throw new Error('the decision log path names no regular file (a device, a pipe, ...); not writing to it or rotating it: leave decision_logs.file out to do without the file');
      }
      if (typeof process.geteuid === 'function' && st.uid !== process.geteuid()) {
        throw new Error(`the decision log file is owned by another account (uid ${String(st.uid)}); not writing request details to it`);
      }
      this.size = st.size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.handle = handle;
    return handle;
  }

  /**
   * Appends `buffers` (`total` bytes, to a file of `size` bytes), in one call unless the system
   * writes less than asked. A write that fails part way (a full disk) is cut back to `size`, so
   * no half line is left for the next event to be glued to.
   */
  private async append(buffers: Buffer[], total: number, size: number): Promise<void> {
    const handle = await this.ensureOpen();
    try {
      if (this.tornTail) {
        await handle.write('\n');
        this.tornTail = false;
      }
      // The file is open for appending: each write lands at its end whatever the position.
      let done = (await handle.writev(buffers)).bytesWritten;
      if (done < total) {
        const bytes = Buffer.concat(buffers, total);
        while (done < total) done += (await handle.write(bytes, done, total - done)).bytesWritten;
      }
    } catch (err) {
      await handle.truncate(size).catch(() => { this.tornTail = true; });
      // A failed write may have left the descriptor unusable: reopen for the next batch.
      await this.closeHandle();
      throw err;
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }

  private async rotate(): Promise<void> {
    const { path, max_files } = this.opts;
    await this.closeHandle();
    await rm(`${path}.${max_files - 1}`, { force: true });
    for (let i = max_files - 2; i >= 1; i--) {
      await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    }
    if (max_files > 1) await rename(path, `${path}.1`).catch(() => undefined);
    else await rm(path, { force: true });
    this.size = 0;
  }

  /** Resolves once everything queued so far is written (no batch delay). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (this.writing === null) this.startBatch();
      if (this.writing === null) return;
      await this.writing;
    }
  }

  /** Writes what is queued and releases the file. A later write reopens it. */
  async close(): Promise<void> {
    await this.flush();
    await this.closeHandle();
  }
}
