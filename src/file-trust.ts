// Files that decide who may do what: the configuration, the policies folder and the bundles.
// Whoever can write one of them changes every decision, so, as ssh refuses a key or an
// authorized_keys file others can write, the gateway refuses one that every account on the host
// can write: the file itself, any folder of a policies tree (a new file there is new policy,
// sticky bit or not), or a folder above them that lets anyone rename what it holds (a
// world-writable folder without the sticky bit). A group-writable file, or one owned by another
// account than the gateway's or root, is only warned about: a deploy group, a git-sync sidecar
// under its own uid or a Kubernetes volume with fsGroup (g+w) are deliberate, and refusing them
// would stop gateways that were set up that way on purpose.
//
// Checked where the files are read (start, reload, rebuild), never per request: one stat per
// file and per folder above it.

import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

const WORLD_WRITABLE = 0o002;
const WORLD_READABLE = 0o004;
const GROUP_WRITABLE = 0o020;
const STICKY = 0o1000;

export interface FileTrust {
  /** Why the files must not be used (every account on the host can change them); empty when they may. */
  readonly refusals: string[];
  /** Looser than they should be, but possibly on purpose (a group, another owner). */
  readonly warnings: string[];
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** A uid other than root's and this process's. */
function foreignOwner(st: Stats): boolean {
  const me = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  return st.uid !== 0 && st.uid !== me;
}

/**
 * Checks `paths` (files or folders, each followed through links) as things whose whole content
 * is trusted, and every folder above each of them (above the link's target) as a place that could
 * swap them out.
 * A path that cannot be stat'ed is left to the reader, which reports it in its own words.
 */
export function checkFileTrust(paths: readonly string[]): FileTrust {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  const note = (path: string, st: Stats, content: boolean): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const world = (st.mode & WORLD_WRITABLE) !== 0;
    if (world && (content || (st.mode & STICKY) === 0)) {
      refusals.push(`${path} is writable by every account on this host (mode ${octal(st.mode)})`);
    } else if (content && (st.mode & GROUP_WRITABLE) !== 0) {
      warnings.push(`${path} is writable by its group (gid ${String(st.gid)}, mode ${octal(st.mode)})`);
    }
    if (foreignOwner(st)) warnings.push(`${path} is owned by another account (uid ${String(st.uid)})`);
  };
  for (const given of paths) {
    // Where the file really is: through a link, the folders that can swap it are those of its target.
    let path: string;
    let st: Stats;
    try {
      path = realpathSync(resolve(given));
      st = statSync(path);
    } catch {
      continue;
    }
    note(path, st, true);
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      try {
        note(dir, statSync(dir), false);
      } catch {
        // An unreadable folder above: the reader will fail on it, and no one else writes through it.
      }
      if (dirname(dir) === dir) break;
    }
  }
  return { refusals, warnings };
}

/**
 * Secret files (private keys, tokens, upstream credentials) that every account on the host can
 * read, each with its mode; the paths are followed through links. Only warned about: Kubernetes
 * mounts secrets 0644 unless told otherwise (`defaultMode: 0400`), and refusing would stop every
 * gateway deployed that way. A group-readable one is not named: Debian's `ssl-cert` group shares
 * private keys that way on purpose. Missing files are left to their readers.
 */
export function worldReadable(paths: readonly string[]): string[] {
  const found: string[] = [];
  for (const given of new Set(paths)) {
    try {
      const st = statSync(given);
      if ((st.mode & WORLD_READABLE) !== 0) found.push(`${resolve(given)} holds a secret and is readable by every account on this host (mode ${octal(st.mode)}; chmod o-r, or in Kubernetes defaultMode: 0400)`);
    } catch {
      // Unreadable or missing: the reader says so in its own words.
    }
  }
  return found;
}

/** One sentence for an error: what is refused and how to fix it. */
export function refusalMessage(what: string, refusals: readonly string[]): string {
  const shown = refusals.slice(0, 3).join('; ');
  const more = refusals.length > 3 ? ` (and ${String(refusals.length - 3)} more)` : '';
  return `${what} refused: ${shown}${more}; any local account could change it (chmod o-w)`;
}
