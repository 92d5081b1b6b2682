// Each benchmark rewrites its own section of docs/benchmarks.md, from its `## ` title to the
// next one, and leaves the rest of the file as it was.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Replaces (or appends) the section titled `## <title>`; returns the file's path. */
export function writeSection(title: string, section: string): string {
  const file = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const body = `${section.trimEnd()}\n`;
  const start = existing.indexOf(`## ${title}`);
  if (start < 0) {
    writeFileSync(file, `${existing.trimEnd()}\n\n${body}`);
  } else {
    const after = existing.indexOf('\n## ', start + 1);
    writeFileSync(file, existing.slice(0, start) + body + (after < 0 ? '' : `\n${existing.slice(after + 1)}`));
  }
  return file;
}
