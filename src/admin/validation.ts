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

/**
 * Where `value` holds a string that is not well-formed Unicode (a lone surrogate: `"\ud800"` is
 * valid JSON), as a JSON pointer; null if nowhere. Stored as UTF-8 such a string comes back
 * changed, so the audit record written from it would not verify, and the policy cannot read it.
 */
function illFormedAt(value: unknown, at: string): string | null {
  if (typeof value === 'string') return /\p{Cs}/u.test(value) ? at : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, child] of Object.entries(value)) {
    const found = /\p{Cs}/u.test(key) ? `${at}/${key}` : illFormedAt(child, `${at}/${key}`);
    if (found !== null) return found;
  }
  return null;
}

export function compileValidator({ schema, httpPart }: { schema: unknown; httpPart?: string }): (data: unknown) => boolean {
  const validate: ValidateFunction = (httpPart === 'body' ? strictBodies : coercingText).compile(schema as object);
  let illFormed: FastifySchemaValidationError[] | null = null;
  // A POST without a body (e.g. `approve` with no comment) is validated as null, which the comment schemas accept.
  const run = (data: unknown): boolean => {
    const at = illFormedAt(data, '');
    illFormed = at === null ? null : [{ keyword: 'format', instancePath: at, schemaPath: '#', params: {}, message: 'must be well-formed Unicode (no lone surrogates)' }];
    return illFormed === null && validate(httpPart === 'body' && data === undefined ? null : data);
  };
  Object.defineProperty(run, 'errors', { get: (): FastifySchemaValidationError[] | null | undefined => illFormed ?? validate.errors });
  return run;
}
