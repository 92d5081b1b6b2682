// Every code the gateway can answer or fail with is explained in docs/api.md: a user quoting a
// code from a response or a refused start must find it there, and a code in an answer's table
// with the status it comes with (the table of start and reload failures gives when, not a
// status). A row may name a family (`JITGATE_E_POLICY_*`), which covers every code it starts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

/** The codes (or families) named in each table row of the doc, with the statuses the row gives. */
const rows = doc.split('\n').filter((line) => line.startsWith('| `JITGATE_E_')).map((line) => {
  const [names = '', statuses = ''] = line.split('|').slice(1, 3);
  return {
    names: [...names.matchAll(/`(JITGATE_E_[A-Z_]+\*?)`/g)].map((m) => m[1] ?? ''),
    statuses: [...statuses.matchAll(/\d{3}/g)].map((m) => Number(m[0])),
  };
});

const covers = (name: string, code: string): boolean => (name.endsWith('*') ? code.startsWith(name.slice(0, -1)) : name === code);

for (const { code, status } of Object.values(ERRORS)) {
  // A row naming the code itself says more than a family's row.
  const exact = rows.filter((row) => row.names.includes(code));
  const documented = exact.length > 0 ? exact : rows.filter((row) => row.names.some((name) => covers(name, code)));
  t.ok(documented.length > 0, `${code} is explained in docs/api.md`);
  const answered = documented.filter((row) => row.statuses.length > 0);
  if (answered.length > 0) t.ok(answered.some((row) => row.statuses.includes(status)), `${code}: docs/api.md gives its status ${String(status)}`);
}
