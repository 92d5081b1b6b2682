// The bundle revision: the git commit of the policies folder, marked `-dirty` when its tree
// has uncommitted changes, so every decision names the policy text that made it.
import { execFile } from 'node:child_process';
import { childEnv } from './child-env.js';

/**
 * Settings of the repository's own config that would have git run a program while it is only
 * asked to read: whoever can write the policies checkout's .git/config (not its commits) would
 * otherwise run code as the gateway. Given on the command line, they win over every config file.
 */
const NO_PROGRAMS = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-c', 'log.showSignature=false'];

/** git's output (trimmed unless `raw`: NUL-separated lists keep their names' spaces), null when it fails. */
function git(args: string[], cwd: string, raw = false): Promise<string | null> {
  return new Promise((resolve) => {
    // No optional locks: status would otherwise write the index (and so run index hooks).
    const env = { ...childEnv(), GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0' };
    execFile('git', [...NO_PROGRAMS, ...args], { cwd, env, timeout: 10_000, encoding: 'utf8' }, (error, stdout) => {
      resolve(error ? null : raw ? stdout : stdout.trim());
    });
  });
}

/**
 * `-c` settings emptying every configured filter driver: a clean filter is a program git runs on
 * each file status looks at. Empty, the file is read as it is (a filtered file may then read as
 * changed: a -dirty revision, never a wrong clean one).
 */
async function noFilters(cwd: string): Promise<string[]> {
  const keys = await git(['config', '-z', '--name-only', '--get-regexp', '^filter\\.'], cwd, true);
  const drivers = new Set<string>();
  for (const key of (keys ?? '').split('\0')) {
    const driver = /^filter\.(.+)\.[^.]+$/s.exec(key)?.[1];
    if (driver !== undefined) drivers.add(driver);
  }
  return [...drivers].flatMap((d) => ['clean=', 'smudge=', 'process=', 'required=false'].flatMap((k) => ['-c', `filter.${d}.${k}`]));
}

/**
 * The last commit touching `dir`; `<commit>-dirty-<content>` when files under it differ
 * from that commit, are untracked, or are compiled `sources` git ignores (the content hash keeps two different uncommitted
 * states apart, so a reload during development still shows up as a new revision);
 * `<commit>-linked-<content>` when a compiled source is a link or inside a submodule (git tracks
 * where it points, so the text behind it can change under the same commit); `nogit-<content>` outside a git
 * repository. `contentHash` digests the compiled sources.
 */
export async function policyRevision(dir: string, contentHash: string, sources: readonly string[] = [], linked = false): Promise<string> {
  const short = contentHash.slice(0, 12);
  const inRepo = await git(['rev-parse', '--is-inside-work-tree'], dir);
  if (inRepo !== 'true') return `nogit-${short}`;
  const commit = (await git(['log', '-1', '--format=%H', '--', '.'], dir)) || (await git(['rev-parse', 'HEAD'], dir));
  if (!commit) return `uncommitted-${short}`;
  // Submodules are not looked into (each has a config of its own, filters included): a source
  // inside one is not in this repository's index, and is named by content below, as a link is.
  const status = await git([...(await noFilters(dir)), 'status', '--porcelain', '--untracked-files=all', '--ignore-submodules=all', '--', '.'], dir);
  // A compiled file git ignores (a `data/` rule matching policies/.../data/) changes the policy
  // without changing the commit: it counts as uncommitted too. (check-ignore exits 1, so null,
  // when none is.)
  const ignored = sources.length === 0 ? null : await git(['check-ignore', '--', ...sources], dir);
  if (status === null || status.length > 0 || (ignored ?? '') !== '') return `${commit}-dirty-${short}`;
  if (linked || !(await allTracked(dir, sources))) return `${commit}-linked-${short}`;
  return (await asCommitted(dir, commit, sources)) ? commit : `${commit}-dirty-${short}`;
}

/**
 * Whether every compiled source holds what `commit` holds, read from the files themselves. status
 * trusts the index, and the index can be told to look away: a file marked --assume-unchanged or
 * --skip-worktree reads as clean whatever it holds, and its edits would serve under the commit's name.
 */
async function asCommitted(dir: string, commit: string, sources: readonly string[]): Promise<boolean> {
  if (sources.length === 0) return true;
  // Hashed as `git add` would store them (with the filter drivers emptied, as for status).
  const hashed = await git([...(await noFilters(dir)), 'hash-object', '--', ...sources], dir);
  const tree = await git(['ls-tree', '-r', '-z', commit, '--', ...sources], dir, true);
  if (hashed === null || tree === null) return false;
  const committed = new Map<string, string>();
  for (const entry of tree.split('\0')) {
    const match = /^\d+ blob ([0-9a-f]+)\t(.*)$/s.exec(entry);
    if (match?.[1] !== undefined && match[2] !== undefined) committed.set(match[2], match[1]);
  }
  const ids = hashed.split('\n');
  return ids.length === sources.length && sources.every((source, i) => committed.get(source) === ids[i]);
}

/** Whether every compiled source is in this repository's index (not untracked, not in a submodule). */
async function allTracked(dir: string, sources: readonly string[]): Promise<boolean> {
  if (sources.length === 0) return true;
  const listed = await git(['ls-files', '-z', '--', ...sources], dir, true);
  if (listed === null) return false;
  const tracked = new Set(listed.split('\0'));
  return sources.every((s) => tracked.has(s));
}
