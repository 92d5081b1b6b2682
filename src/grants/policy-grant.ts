import type { PolicyGrant } from '../policy/index.js';
import type { Grant } from './model.js';

/** The grant as the policy sees it (contract.ts). Nanoseconds lose sub-microsecond precision above 2^53; ms are exact. */
export function toPolicyGrant(grant: Grant): PolicyGrant {
  return {
    id: grant.id,
    role: grant.role,
    // Copies: the policy's view is sealed (frozen) and must not freeze the grant it came from.
    scope: grant.scope === null ? null : structuredClone(grant.scope),
    starts_at: grant.starts_at,
    expires_at: grant.expires_at,
    expires_at_ns: Date.parse(grant.expires_at) * 1e6,
    approved_by: [...grant.approved_by],
    reason: grant.reason,
    ticket: grant.ticket,
    break_glass: grant.break_glass,
    request_id: grant.request_id,
  };
}
