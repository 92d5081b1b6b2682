# Classifies the incoming HTTP request for the authz rules: which area of the API
# it touches, whether its method reads or writes, and whether its path is in the
# plain, normalized form the rules are written against.
package jitgate.lib.requests

read_methods := {"GET", "HEAD"}

write_methods := {"POST", "PUT", "PATCH", "DELETE"}

method := input.request.method

path := input.request.path

is_read if method in read_methods

is_write if method in write_methods

under_api if startswith(path, "/api/")

under_admin if startswith(path, "/admin/")

under_admin if path == "/admin"

# A rule that narrows what a broader one allows must catch every spelling an upstream routes
# to the same handler, or that spelling is decided by the broader rule. Lenient upstreams
# (Express by default, Fastify's ignoreTrailingSlash, IIS) ignore case and a trailing slash,
# and a route with `match.case_sensitive: false` sends them `/api/Refunds/`. The input does
# not say how the route matches, so case is always ignored here: for a narrowing rule, a
# spelling caught needlessly only takes the stricter rule. (The areas above need no such
# care: a spelling they miss is denied.)

# Whether the path is `target`, as a lenient upstream reads it: "/api/refunds" is also
# "/api/refunds/", "/api/Refunds" and "/api/refunds.json".
at(target) if lower(path) == lower(target)

at(target) if lower(path) == concat("", [lower(target), "/"])

# And with a format suffix: Rails routes "/api/refunds.json" to the same action, as Spring MVC
# did by default before 5.3.
at(target) if {
	rest := trim_prefix(lower(path), concat("", [lower(target), "."]))
	rest != lower(path)
	not contains(rest, "/")
}

# Whether the path is `prefix` or below it, in whole segments, read as `at` reads it:
# "/api/billing" covers "/api/billing/", "/api/Billing/x", not "/api/billingx".
under(prefix) if at(prefix)

under(prefix) if startswith(lower(path), concat("", [lower(prefix), "/"]))

# A refund: decided on its amount, which only the request body says. The gateway reads
# bodies for the policy on routes with `policy_body` (docs/policies.md). `at`, not
# `path ==`: an exact match let `POST /api/refunds/` (or `/api/Refunds`) of any amount
# through as a plain write under a writer grant.
is_refund if {
	method == "POST"
	at("/api/refunds")
}

# The refund's amount, when the gateway read the body and it has a positive number there.
refund_amount := amount if {
	input.request.body_status == "parsed"
	amount := input.request.body.amount
	is_number(amount)
	amount > 0
}

# The gateway normalizes the path before the policy sees it. The policy still refuses
# anything that is not plainly normalized: a path the upstream could read differently
# from the policy (dot segments, doubled or encoded separators) must never be allowed.
default path_is_clean := false

path_is_clean if {
	is_string(path)
	startswith(path, "/")
	not looks_ambiguous
}

looks_ambiguous if contains(path, "//")

looks_ambiguous if contains(path, "\\")

# A dot segment: every segment of a path that starts with "/" follows a "/", and ends at
# the next "/" or at the end.
looks_ambiguous if contains(path, "/./")

looks_ambiguous if contains(path, "/../")

looks_ambiguous if endswith(path, "/.")

looks_ambiguous if endswith(path, "/..")

# Encoded dot, slash, backslash and NUL: an upstream that decodes again would see a
# different path than the one decided on. Only a path with a "%" can hold one.
looks_ambiguous if {
	contains(path, "%")
	some encoded in {"%2e", "%2f", "%5c", "%00"}
	contains(lower(path), encoded)
}
