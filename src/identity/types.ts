// What the identity part offers: a verified subject or a JitgateError (401), nothing in between.
import type { Subject } from '../policy/index.js';

export interface Authenticator {
  /** Headers as Node gives them (lower-case names). Throws JitgateError(UNAUTHENTICATED|TOKEN_*|API_KEY_INVALID|IDENTITY_AMBIGUOUS). */
  authenticate(headers: Record<string, string | string[] | undefined>): Promise<Subject>;
}
