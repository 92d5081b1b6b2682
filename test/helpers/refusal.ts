// What a call that should be refused did: its JitgateError code, 'accepted', or the unexpected error.
import { isJitgateError } from '../../src/errors.js';

export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    return isJitgateError(err) ? err.code : `unexpected: ${String(err)}`;
  }
}
