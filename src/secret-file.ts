// Files that hold a secret, named in the configuration: a route credential's `from_file`, a
// service's bearer `token_path`, an OAuth2 client assertion. With `${NAME}` in the config an
// operator can put the secret itself where its path belongs; an error quoting the path (or
// Node's message, which repeats it) would carry the secret into the log and, on a reload, into
// the audit trail for good. So these errors name the setting and the system's code, never the path.

import { readFileSync } from 'node:fs';

/** The file's text; throws naming `setting` and why (ENOENT, EACCES, ...), never the path itself. */
export function readSecretFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new Error(`${setting}: the file it names cannot be read (${code}; its path is not repeated here, in case it holds the secret itself)`);
  }
}
