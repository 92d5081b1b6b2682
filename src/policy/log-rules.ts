// Which of OPA's decision-log rules (system.log.drop, system.log.mask) Rego sources define, read
// from their text. The build asks opa for exactly those entrypoints (opa refuses one that names
// no rule), so a form missed here is a rule left out of the bundle: the decision log would keep
// what the author's rule drops or masks, while `opa eval` and `opa test` show the rule working.
import { LOG_DROP_ENTRYPOINT, LOG_MASK_ENTRYPOINT } from './contract.js';

const RULES = [['drop', LOG_DROP_ENTRYPOINT], ['mask', LOG_MASK_ENTRYPOINT]] as const;

// Rego v1 puts a rule at data.system.log.<name> two ways: `mask` in `package system.log`, or
// `log.mask` in `package system` (a rule whose head is a reference).
const FORMS: readonly { pkg: RegExp; head: string }[] = [
  { pkg: /^package\s+system\.log\s*(#.*)?$/m, head: '' },
  { pkg: /^package\s+system\s*(#.*)?$/m, head: 'log\\.' },
];

/** The decision-log rules the sources define, as entrypoints (sorted). */
export function logRuleEntrypoints(regoSources: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of regoSources) {
    for (const form of FORMS) {
      if (!form.pkg.test(text)) continue;
      for (const [name, entrypoint] of RULES) {
        if (new RegExp(`^(default\\s+)?${form.head}${name}\\b`, 'm').test(text)) found.add(entrypoint);
      }
    }
  }
  return [...found].sort();
}
