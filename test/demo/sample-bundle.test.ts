// The committed bundle (bundles/jitgate.tar.gz) lets the gateway start where opa is not
// installed. It must be the policies/ of this commit, or the demo would enforce stale rules.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import t from 'tap';

const root = fileURLToPath(new URL('../..', import.meta.url));

function policySources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return policySources(path);
    return name.endsWith('.rego') && !name.endsWith('_test.rego') ? [path] : [];
  });
}

t.test('bundles/jitgate.tar.gz holds exactly the Rego and data of policies/ (rebuild with `jitgate build`)', async (t) => {
  const entries = new Map<string, string>();
  await tar.t({
    file: join(root, 'bundles/jitgate.tar.gz'),
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => entries.set(entry.path.replace(/^\//, ''), Buffer.concat(chunks).toString('utf8')));
    },
  });
  const expected = policySources(join(root, 'policies')).map((p) => relative(root, p)).sort();
  const bundled = [...entries.keys()].filter((p) => p.endsWith('.rego')).sort();
  t.same(bundled, expected, 'the same Rego files');
  // opa build keeps the modules but drops whole-line comments (and blank lines between them).
  const code = (text: string): string => text.split('\n').filter((l) => !/^\s*(#.*)?$/.test(l)).join('\n');
  for (const file of expected) t.equal(code(entries.get(file) ?? ''), code(readFileSync(join(root, file), 'utf8')), `${file} is current`);
  t.same(JSON.parse(entries.get('data.json') ?? 'null'), JSON.parse(readFileSync(join(root, 'policies/data.json'), 'utf8')), 'data.json is current');
  const manifest = JSON.parse(entries.get('.manifest') ?? '{}') as { wasm?: { entrypoint: string }[] };
  t.same(manifest.wasm?.map((w) => w.entrypoint).sort(), ['jitgate/authz', 'jitgate/elevation'], 'both entrypoints');
});
