# The caller's grants as the authz rules use them: which ones are still live and
# whether a grant's scope covers the request at hand.
package jitgate.lib.grants

import data.jitgate.lib.requests
import data.jitgate.lib.roles

# The gateway never hands an expired grant to the policy. Checking the window again
# here means a stale cache or a clock edge can never widen access.
live(grant) if {
	is_number(grant.expires_at_ns)
	is_number(input.now_ns)
	grant.expires_at_ns > input.now_ns
}

# The roles the caller may hold now: those whose eligible groups the token still names.
# Eligibility is checked when a role is asked for, but a grant outlives the groups it was
# asked with: someone moved out of `eng` kept writing under the writer grant they held.
# Computed once per decision, not per grant.
eligible_roles := {name |
	some name, role in roles.definitions
	roles.member_of(input.subject, role.eligible_groups)
}

# Ids of live grants with one of `wanted` (a set) whose scope covers this request, sorted,
# held by someone still eligible for the grant's role.
# `wanted[grant.role]` rather than `grant.role in wanted`: the same test on a set, and in
# WebAssembly a direct lookup instead of a builtin call per grant (a third of the cost
# of a decision with 100 grants).
covering_ids(wanted) := sort({grant.id |
	some grant in input.grants
	wanted[grant.role]
	eligible_roles[grant.role]
	live(grant)
	covers(object.get(grant, "scope", null))
})

# A grant without a scope covers the whole role. A scope narrows it: every part that
# is set must match (route name, method, one of the path globs).
covers(scope) if scope == null

covers(scope) if {
	is_object(scope)
	route_matches(object.get(scope, "route", null))
	method_matches(object.get(scope, "methods", null))
	path_matches(object.get(scope, "paths", null))
}

route_matches(wanted) if wanted == null

route_matches(wanted) if wanted == input.route.name

method_matches(wanted) if wanted == null

method_matches(wanted) if requests.method in wanted

# `*` matches one path segment, `**` any number of them.
path_matches(patterns) if patterns == null

path_matches(patterns) if {
	some pattern in patterns
	glob.match(pattern, ["/"], requests.path)
}
