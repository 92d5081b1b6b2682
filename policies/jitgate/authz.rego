# Entrypoint jitgate/authz: evaluated for every request through the gateway.
#
# The gateway evaluates this whole package and reads it as the decision, so it holds
# only the result fields (allow, reason, elevation, obligations, grant_ids). The rules
# themselves live in jitgate.lib.access; see docs/policies.md.
package jitgate.authz

import data.jitgate.lib.access

default allow := false

allow if access.decision.allow == true

default reason := "no authz rule matched"

reason := access.decision.reason

# On deny: the role that would unlock the request, and for how long it can be held.
elevation := access.decision.elevation

# On allow: which of the route's upstream credentials the gateway injects.
obligations := access.decision.obligations

# On allow: the grants this decision relied on, for the audit trail.
grant_ids := access.decision.grant_ids
