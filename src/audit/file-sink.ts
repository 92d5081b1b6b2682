// Local JSONL decision log with size-based rotation: `path` is current, `path.1` the
// previous one, ... up to max_files files in all. Writes are batched and asynchronous.
import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileSinkOptions {
  path: string;
  max_bytes: number;
  max_files: number;
  /** Lines waiting to be written beyond this are dropped (counted). */
  maxPending: number;
  onDrop: (count: number, reason: string) => void;
}

export class FileSink {
  private pending: string[] = [];
  private writing: Promise<void> | null = null;
  private size: number | null = null;

  constructor(private readonly opts: FileSinkOptions) {}

  write(line: string): void {
    if (this.pending.length >= this.opts.maxPending) {
      this.opts.onDrop(1, 'file sink backlog full');
      return;
    }
    this.pending.push(line);
    this.writing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const lines = this.pending;
        this.pending = [];
        try {
          await this.writeLines(lines);
        } catch {
          this.opts.onDrop(lines.length, 'file sink write failed');
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async writeLines(lines: string[]): Promise<void> {
    const { path, max_bytes } = this.opts;
    if (this.size === null) {
      await mkdir(dirname(path), { recursive: true });
      this.size = await stat(path).then((s) => s.size, () => 0);
    }
    // Fill the current file up to max_bytes, rotate, continue: no file grows past the limit
    // unless a single event is larger than it.
    let batch: string[] = [];
    let batchBytes = 0;
    for (const line of lines) {
      const text = `${line}\n`;
      const bytes = Buffer.byteLength(text);
      if (this.size + batchBytes + bytes > max_bytes && this.size + batchBytes > 0) {
        if (batch.length > 0) await appendFile(path, batch.join(''), { mode: 0o600 });
        batch = [];
        batchBytes = 0;
        await this.rotate();
      }
      batch.push(text);
      batchBytes += bytes;
    }
    if (batch.length > 0) {
      await appendFile(path, batch.join(''), { mode: 0o600 });
      this.size += batchBytes;
    }
  }

  private async rotate(): Promise<void> {
    const { path, max_files } = this.opts;
    await rm(`${path}.${max_files - 1}`, { force: true });
    for (let i = max_files - 2; i >= 1; i--) {
      await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    }
    if (max_files > 1) await rename(path, `${path}.1`).catch(() => undefined);
    else await rm(path, { force: true });
    this.size = 0;
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }
}
