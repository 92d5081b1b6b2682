// Page sizes given on the command line. A value the listing cannot take is refused, never
// quietly changed: `--limit 0` used to answer one record and `--limit 5000` a thousand, so a
// script that asked for something else got a different page than it believed it had.
import { jitgateError } from '../errors.js';

/** The most a page of GET /v1/requests or /v1/grants holds (the API's `limit` maximum). */
export const LIST_LIMIT_MAX = 500;

/**
 * `--limit` as the whole number it says, from 1 to `max`; undefined when not given (the
 * listing's default). Decimal digits only: Number() would also read "", "0x10", "1e2" and " 5".
 */
export function parseLimit(value: string | undefined, max: number, flag = '--limit'): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) {
    throw jitgateError('VALIDATION', `${flag} must be a whole number from 1 to ${String(max)}, not "${value}"`, { field: flag.replace(/^--/, '') });
  }
  return n;
}
