// Two ajv instances: bodies are validated strictly (a string is never coerced into a number,
// unknown fields are refused, not silently dropped), while query strings and path params,
// which are text by nature, are coerced to the types their schemas declare.
import { Ajv, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifySchemaValidationError } from 'fastify';

type Plugin = (ajv: Ajv) => Ajv;
// ajv-formats is CommonJS; under NodeNext its default export arrives as `.default` or as the module itself.
const addFormats: Plugin = ((formatsPlugin as unknown as { default?: Plugin }).default ?? formatsPlugin) as unknown as Plugin;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    allowUnionTypes: true,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const strictBodies = makeAjv(false);
const coercingText = makeAjv(true);

/** Deeper than any body, query or path the API takes: its schemas nest a few levels at most. */
const MAX_DEPTH = 32;

/**
 * Where `value` holds what no store keeps as sent, as a JSON pointer and why; null if nowhere.
 * A string that is not well-formed Unicode (a lone surrogate: `"\ud800"` is valid JSON) comes
 * back from UTF-8 changed, so the audit record written from it would not verify, and the policy
 * cannot read it; PostgreSQL refuses U+0000 in text outright, where SQLite keeps it. Walked
 * without recursion, so a deeply nested body is refused, not a stack overflow.
 */
function unstorableAt(value: unknown): { at: string; why: string } | null {
  const stack: { value: unknown; at: string; depth: number }[] = [{ value, at: '', depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value: v, at, depth } = item;
    if (typeof v === 'string') {
      if (/[\p{Cs}\0]/u.test(v)) return { at, why: 'must be well-formed Unicode without NUL (no lone surrogates, no U+0000)' };
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_DEPTH) return { at, why: `is nested deeper than ${String(MAX_DEPTH)} levels` };
    for (const [key, child] of Object.entries(v)) {
      if (/[\p{Cs}\0]/u.test(key)) return { at: `${at}/${key}`, why: 'has a name that is not well-formed Unicode without NUL' };
      stack.push({ value: child, at: `${at}/${key}`, depth: depth + 1 });
    }
  }
  return null;
}

/** The members of an object schema declared as integers (`limit`, `offset`, the audit `cursor`). */
function integerMembers(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | null)?.properties ?? {};
  return Object.entries(properties).filter(([, member]) => member.type === 'integer').map(([name]) => name);
}

/**
 * Where a query or path integer is not written in decimal digits. ajv coerces text with `+text`,
 * which also reads `0x10`, `1e2`, `5.0` and ` 5` as numbers: a page of 16 for `limit=0x10` is not
 * what the caller wrote, and the CLI refuses the same values (src/cli/limit.ts).
 */
function nonDecimalAt(data: unknown, names: readonly string[]): { at: string; why: string } | null {
  if (typeof data !== 'object' || data === null) return null;
  for (const name of names) {
    const value: unknown = (data as Record<string, unknown>)[name];
    for (const text of Array.isArray(value) ? (value as unknown[]) : [value]) {
      if (typeof text === 'string' && !/^[0-9]+$/.test(text)) return { at: `/${name}`, why: 'must be a whole number written in decimal digits' };
    }
  }
  return null;
}

export function compileValidator({ schema, httpPart }: { schema: unknown; httpPart?: string }): (data: unknown) => boolean {
  const validate: ValidateFunction = (httpPart === 'body' ? strictBodies : coercingText).compile(schema as object);
  const integers = httpPart === 'body' ? [] : integerMembers(schema);
  let unstorable: FastifySchemaValidationError[] | null = null;
  // A POST without a body (e.g. `approve` with no comment) is validated as null, which the comment schemas accept.
  const run = (data: unknown): boolean => {
    const found = unstorableAt(data) ?? nonDecimalAt(data, integers);
    unstorable = found === null ? null : [{ keyword: 'format', instancePath: found.at, schemaPath: '#', params: {}, message: found.why }];
    return unstorable === null && validate(httpPart === 'body' && data === undefined ? null : data);
  };
  Object.defineProperty(run, 'errors', { get: (): FastifySchemaValidationError[] | null | undefined => unstorable ?? validate.errors });
  return run;
}
