# Shared test inputs: the demo's people, grants and requests. Tests tweak them with
# object.union so that each test shows only what it changes.
package jitgate.fixtures_test

now_ns := 1800000000000000000

hour_ns := 3600000000000

alice := {"id": "alice", "kind": "user", "groups": ["eng"], "claims": {}}

erin := {"id": "erin", "kind": "user", "groups": ["eng"], "claims": {}}

bob := {"id": "bob", "kind": "user", "groups": ["eng", "approvers"], "claims": {}}

carol := {"id": "carol", "kind": "user", "groups": ["eng", "approvers"], "claims": {}}

dave := {"id": "dave", "kind": "user", "groups": ["admins", "approvers"], "claims": {}}

svc_reporting := {"id": "svc-reporting", "kind": "service", "groups": ["services", "reporting"], "claims": {}}

demo_route := {"name": "demo", "upstream": "http://127.0.0.1:9001", "credentials": ["readonly", "writer", "admin"]}

grant(id, role) := {
	"id": id,
	"role": role,
	"scope": null,
	"starts_at": "2027-01-15T08:00:00Z",
	"expires_at": "2027-01-15T09:00:00Z",
	"expires_at_ns": now_ns + hour_ns,
	"approved_by": ["bob"],
	"reason": "fix the item import",
	"ticket": null,
	"break_glass": role == "breakglass",
	"request_id": concat("", ["req-", id]),
}

scoped_grant(id, role, scope) := object.union(grant(id, role), {"scope": scope})

authz_input(subject, method, path, grants) := {
	"request": {
		"method": method,
		"path": path,
		"segments": [s | some s in split(path, "/"); s != ""],
		"query": {},
		"headers": {"accept": "application/json"},
		"host": "127.0.0.1:8080",
	},
	"subject": subject,
	"grants": grants,
	"route": demo_route,
	"now_ns": now_ns,
}

# A refund whose body the gateway read (a route with policy_body) and parsed.
refund_input(subject, body, grants) := object.union(
	authz_input(subject, "POST", "/api/refunds", grants),
	{"request": {"body_status": "parsed", "body": body}},
)

# The same request on a route where the gateway could not give the body a value.
unread_refund_input(subject, status, grants) := object.union(
	authz_input(subject, "POST", "/api/refunds", grants),
	{"request": {"body_status": status}},
)

ask(role, duration_seconds, reason, ticket) := {
	"id": null,
	"role": role,
	"scope": null,
	"duration_seconds": duration_seconds,
	"reason": reason,
	"ticket": ticket,
	"status": "new",
	"requested_at": null,
	"approvals": [],
	"extends_grant_id": null,
	"extension_count": 0,
}

pending(role) := object.union(ask(role, 3600, "fix the item import", "INC-42"), {
	"id": "req-1",
	"status": "pending",
	"requested_at": "2027-01-15T08:00:00Z",
})

step(action, request, actor, requester, g) := {
	"action": action,
	"request": request,
	"actor": actor,
	"requester": requester,
	"grant": g,
	"now_ns": now_ns,
}
