// Durations as people write them: "30m", "1h", "1h30m", "90s", "1d", or plain seconds.
import { jitgateError } from '../errors.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_SECONDS = 31_536_000;

/** Seconds from an integer or a duration string; throws JitgateError(VALIDATION) naming `field`. */
export function parseDuration(value: number | string, field = 'duration'): number {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else if (/^[0-9]+$/.test(value)) {
    seconds = Number(value);
  } else {
    const parts = [...value.matchAll(/([0-9]+)([smhd])/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
      throw jitgateError('VALIDATION', `${field}: "${value}" is not a duration (use e.g. 30m, 1h, 1h30m or seconds)`, { field });
    }
    seconds = parts.reduce((sum, [, n, unit]) => sum + Number(n) * (UNIT_SECONDS[unit ?? 's'] ?? 1), 0);
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
    throw jitgateError('VALIDATION', `${field}: must be between 1 second and 365 days`, { field });
  }
  return seconds;
}
