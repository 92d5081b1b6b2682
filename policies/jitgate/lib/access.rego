# The authz decision for one request. jitgate.authz publishes its fields.
#
# `decision` is an ordered chain: the first line whose conditions hold wins, so the
# refusals that must shadow everything else come first. A refusal is always written
# as `not <the thing that must hold>`, so a missing input field refuses rather than
# skipping to a later line.
package jitgate.lib.access

import data.jitgate.lib.grants
import data.jitgate.lib.requests
import data.jitgate.lib.roles

# Which roles unlock which kind of operation.
api_write_roles := {"writer", "admin", "breakglass"}

admin_roles := {"admin", "breakglass"}

decision := deny("the request path is not in normalized form") if {
	not requests.path_is_clean
} else := offered(service_decision) if {
	input.subject.kind == "service"
} else := offered(user_decision) if {
	input.subject.kind == "user"
} else := deny("only authenticated employees and registered service accounts may call this route")

# Employees read under /api/ by default; writes and /admin/ need a live grant.
user_decision := deny("the method is not one jitgate lets through") if {
	not known_method
} else := allow("employees may read under /api/", "readonly", []) if {
	requests.under_api
	requests.is_read
} else := deny("refunds are decided on their amount, and this route does not show the policy request bodies") if {
	requests.is_refund
	not input.request.body_status
} else := deny("a refund needs a JSON body whose amount is a positive number") if {
	requests.is_refund
	not requests.refund_amount
} else := allow("refund within the limit of an active grant", "writer", ids) if {
	requests.is_refund
	ids := grants.covering_ids(refund_roles(requests.refund_amount))
	count(ids) > 0
} else := deny_with_hint("this refund needs an active grant of a role whose refund limit covers it", role) if {
	requests.is_refund
	role := refund_hint(requests.refund_amount)
} else := deny("no role may refund this much") if {
	requests.is_refund
} else := allow("write under /api/ allowed by an active grant", "writer", ids) if {
	requests.under_api
	requests.is_write
	ids := grants.covering_ids(api_write_roles)
	count(ids) > 0
} else := deny_with_hint("writes under /api/ need an active writer grant", "writer") if {
	requests.under_api
	requests.is_write
} else := allow("access under /admin/ allowed by an active grant", "admin", ids) if {
	requests.under_admin
	ids := grants.covering_ids(admin_roles)
	count(ids) > 0
} else := deny_with_hint("paths under /admin/ need an active admin grant", "admin") if {
	requests.under_admin
} else := deny("no rule covers this path: only /api/ and /admin/ are served")

# Roles whose refund limit (data.jitgate.refund_limits) covers `amount`.
refund_roles(amount) := {role |
	some role, limit in data.jitgate.refund_limits
	amount <= limit
}

# The role with the smallest refund limit that still covers `amount`, for the hint (the
# first by name when several have that limit).
refund_hint(amount) := sort([role |
	some role, limit in data.jitgate.refund_limits
	limit == min({l | some l in data.jitgate.refund_limits; amount <= l})
])[0]

known_method if requests.is_read

known_method if requests.is_write

# Service accounts have standing least privilege only, listed in data.json. They hold
# no grants and get no elevation hints: roles are for people.
service_decision := deny("this service account is not registered in the policy data") if {
	not data.jitgate.service_accounts[input.subject.id]
} else := allow("standing permission of this service account", permission.credential, []) if {
	permission := matching_service_permissions[0]
} else := deny("this service account has no standing permission for this request")

# In data.json order; the first match decides, so overlapping entries never conflict.
# An entry must list its paths: one without would otherwise cover the whole route.
matching_service_permissions := [permission |
	some permission in data.jitgate.service_accounts[input.subject.id].permissions
	is_array(permission.paths)
	grants.covers(permission)
]

# An allow names the upstream credential to inject. If the route does not offer it,
# the request is refused here instead of reaching the upstream with the wrong one.
offered(d) := d if {
	not d.allow
} else := d if {
	d.obligations.credential in object.get(input.route, "credentials", [])
} else := deny("the route does not offer the upstream credential this rule needs")

allow(reason, credential, grant_ids) := {
	"allow": true,
	"reason": reason,
	"obligations": {"credential": credential},
	"grant_ids": grant_ids,
}

deny(reason) := {"allow": false, "reason": reason}

# The hint names a role only to someone who may ask for it: a caller whose token names no
# group eligible for the role is told why instead (a hint would send them to a request the
# elevation policy refuses, and a grant they hold of it opens nothing; see grants.eligible_roles).
deny_with_hint(reason, role) := {"allow": false, "reason": reason, "elevation": hint(role)} if {
	grants.eligible_roles[role]
} else := {"allow": false, "reason": concat(": ", [reason, not_eligible(role)])}

# concat, not sprintf: sprintf runs as JavaScript in the wasm SDK (docs/policies.md).
not_eligible(role) := concat("", ["the ", role, " grant held does not count, as the token names no group eligible for ", role]) if {
	some grant in input.grants
	grant.role == role
	grants.live(grant)
} else := concat("", ["the token names no group eligible for ", role, ", so it cannot be asked for"])

# What the 403 says to ask for: the role, and what its definition knows of the request to make
# (the longest duration; a ticket, so that the command it offers is not refused for want of one).
hint(role) := {k: v |
	some k, v in {
		"role": role,
		"max_duration_seconds": object.get(roles.definitions[role], "max_duration_seconds", null),
		"require_ticket": object.get(roles.definitions[role], "require_ticket", false),
	}
	hint_member(k, v)
}

hint_member("role", _)

hint_member("max_duration_seconds", v) if is_number(v)

hint_member("require_ticket", true)
