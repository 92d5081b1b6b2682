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

export function compileValidator({ schema, httpPart }: { schema: unknown; httpPart?: string }): (data: unknown) => boolean {
  const validate: ValidateFunction = (httpPart === 'body' ? strictBodies : coercingText).compile(schema as object);
  // A POST without a body (e.g. `approve` with no comment) is validated as null, which the comment schemas accept.
  const run = (data: unknown): boolean => validate(httpPart === 'body' && data === undefined ? null : data);
  Object.defineProperty(run, 'errors', { get: (): FastifySchemaValidationError[] | null | undefined => validate.errors });
  return run;
}
