import { jitgateError } from '../errors.js';

/** Milliseconds since the epoch; injectable so expiry can be tested without waiting. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** `clock`, refusing (503) while `off` says why it cannot be trusted (store/clock-check.ts). */
export function trustedClock(clock: Clock, off: () => string | null): Clock {
  return () => {
    const why = off();
    if (why !== null) throw jitgateError('STORE_UNAVAILABLE', why);
    return clock();
  };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
