// The bundle revision: the git commit of the policies folder, marked `-dirty` when its tree
// has uncommitted changes, so every decision names the policy text that made it.
import { execFile } from 'node:child_process';

function git(args: string[], cwd: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, timeout: 10_000, encoding: 'utf8' }, (error, stdout) => {
      resolve(error ? null : stdout.trim());
    });
  });
}

/**
 * The last commit touching `dir`; `<commit>-dirty-<content>` when files under it differ
 * from that commit, are untracked, or are compiled `sources` git ignores (the content hash keeps two different uncommitted
 * states apart, so a reload during development still shows up as a new revision);
 * `<commit>-linked-<content>` when a compiled source is a link (git tracks where it points, so
 * the text behind it can change under the same commit); `nogit-<content>` outside a git
 * repository. `contentHash` digests the compiled sources.
 */
export async function policyRevision(dir: string, contentHash: string, sources: readonly string[] = [], linked = false): Promise<string> {
  const short = contentHash.slice(0, 12);
  const inRepo = await git(['rev-parse', '--is-inside-work-tree'], dir);
  if (inRepo !== 'true') return `nogit-${short}`;
  const commit = (await git(['log', '-1', '--format=%H', '--', '.'], dir)) || (await git(['rev-parse', 'HEAD'], dir));
  if (!commit) return `uncommitted-${short}`;
  const status = await git(['status', '--porcelain', '--untracked-files=all', '--', '.'], dir);
  // A compiled file git ignores (a `data/` rule matching policies/.../data/) changes the policy
  // without changing the commit: it counts as uncommitted too. (check-ignore exits 1, so null,
  // when none is.)
  const ignored = sources.length === 0 ? null : await git(['check-ignore', '--', ...sources], dir);
  if (status === null || status.length > 0 || (ignored ?? '') !== '') return `${commit}-dirty-${short}`;
  return linked ? `${commit}-linked-${short}` : commit;
}
