// What the identity part offers: a verified subject or a JitgateError (401), nothing in between.
import type { AuthzClientCertificate, Subject } from '../policy/index.js';

export interface Authenticator {
  /**
   * Headers as Node gives them (lower-case names), and the caller's certificate when it verified
   * against the listener's client CA. Throws JitgateError(UNAUTHENTICATED|TOKEN_*|API_KEY_INVALID|IDENTITY_AMBIGUOUS).
   */
  authenticate(headers: Record<string, string | string[] | undefined>, certificate?: AuthzClientCertificate | null): Promise<Subject>;
  /**
   * Changes whenever a key set tokens are verified against changes (a JWKS refresh that added or
   * withdrew keys): a subject verified before may no longer be vouched for.
   */
  readonly keysGeneration: number;
}
