package jitgate.authz_test

import data.jitgate.authz
import data.jitgate.fixtures_test as f
import data.jitgate.lib.requests

# --- reads -----------------------------------------------------------------------

test_employee_reads_under_api_with_readonly_credential if {
	d := authz with input as f.authz_input(f.alice, "GET", "/api/items", [])
	d.allow == true
	d.obligations == {"credential": "readonly"}
	d.grant_ids == []
	not d.elevation
}

test_head_is_a_read if {
	d := authz with input as f.authz_input(f.erin, "HEAD", "/api/items/1", [])
	d.allow == true
	d.obligations.credential == "readonly"
}

test_options_is_refused_without_hint if {
	d := authz with input as f.authz_input(f.alice, "OPTIONS", "/api/items", [])
	d.allow == false
	d.reason == "the method is not one jitgate lets through"
	not d.elevation
}

test_lower_case_method_is_refused if {
	d := authz with input as f.authz_input(f.alice, "get", "/api/items", [])
	d.allow == false
}

test_read_with_writer_grant_still_uses_readonly_credential if {
	d := authz with input as f.authz_input(f.alice, "GET", "/api/items", [f.grant("g1", "writer")])
	d.allow == true
	d.obligations.credential == "readonly"
}

# --- writes under /api/ ----------------------------------------------------------

test_write_without_grant_is_denied_with_writer_hint if {
	every method in ["POST", "PUT", "PATCH", "DELETE"] {
		d := authz with input as f.authz_input(f.alice, method, "/api/items/1", [])
		d.allow == false
		d.reason == "writes under /api/ need an active writer grant"
		d.elevation == {"role": "writer", "max_duration_seconds": 28800}
		not d.obligations
	}
}

test_every_write_method_needs_a_grant if {
	every method in ["POST", "PUT", "PATCH", "DELETE"] {
		d1 := authz with input as f.authz_input(f.alice, method, "/api/items/1", [])
		d1.allow == false
		d2 := authz with input as f.authz_input(f.alice, method, "/api/items/1", [f.grant("g1", "writer")])
		d2.allow == true
	}
}

test_writer_grant_allows_write_with_writer_credential if {
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [f.grant("g1", "writer")])
	d.allow == true
	d.obligations == {"credential": "writer"}
	d.grant_ids == ["g1"]
}

test_admin_and_breakglass_grants_also_allow_api_writes if {
	every role in ["admin", "breakglass"] {
		d := authz with input as f.authz_input(f.alice, "DELETE", "/api/items/7", [f.grant("g1", role)])
		d.allow == true
		d.obligations.credential == "writer"
	}
}

test_grant_ids_lists_every_covering_grant_sorted if {
	grants := [f.grant("g2", "writer"), f.grant("g1", "admin"), f.grant("g3", "reader")]
	d := authz with input as f.authz_input(f.alice, "PUT", "/api/items/1", grants)
	d.grant_ids == ["g1", "g2"]
}

test_unknown_role_grant_does_not_allow_writes if {
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [f.grant("g1", "reader")])
	d.allow == false
}

# A grant counts only while its holder is still eligible for its role: one asked for from
# `eng` stops opening anything once the token no longer says `eng`.
test_grant_of_a_role_the_holder_is_no_longer_eligible_for_opens_nothing if {
	alice_moved := object.union(f.alice, {"groups": ["sales"]})
	every g in [f.grant("g1", "writer"), f.grant("g2", "admin"), f.grant("g3", "breakglass")] {
		w := authz with input as f.authz_input(alice_moved, "POST", "/api/items", [g])
		w.allow == false
		not w.elevation
		r := authz with input as f.refund_input(alice_moved, {"amount": 10}, [g])
		r.allow == false
	}

	# Told why, and not sent to ask for a role the elevation policy would refuse her.
	held := authz with input as f.authz_input(alice_moved, "POST", "/api/items", [f.grant("g1", "writer")])
	held.reason == "writes under /api/ need an active writer grant: the writer grant held does not count, as the token names no group eligible for writer"
	not held.elevation
	other := authz with input as f.authz_input(alice_moved, "POST", "/api/items", [f.grant("g2", "admin")])
	other.reason == "writes under /api/ need an active writer grant: the token names no group eligible for writer, so it cannot be asked for"
	not other.elevation
	a := authz with input as f.authz_input(alice_moved, "GET", "/admin/users", [f.grant("g2", "admin")])
	a.allow == false
	read := authz with input as f.authz_input(alice_moved, "GET", "/api/items", [f.grant("g1", "writer")])
	read.allow == true
}

test_grant_counts_for_any_group_the_role_makes_eligible if {
	# dave is not in eng, but admins are eligible for admin: his admin grant opens /admin/.
	d := authz with input as f.authz_input(f.dave, "GET", "/admin/users", [f.grant("g1", "admin")])
	d.allow == true
	d.grant_ids == ["g1"]

	# ... and not his writer grant: writer is for eng only.
	w := authz with input as f.authz_input(f.dave, "POST", "/api/items", [f.grant("g2", "writer")])
	w.allow == false
}

test_groupless_token_opens_nothing_with_a_grant if {
	d := authz with input as f.authz_input(object.remove(f.alice, ["groups"]), "POST", "/api/items", [f.grant("g1", "writer")])
	d.allow == false
}

# Defence in depth: the gateway filters expired grants, the policy ignores them too.
test_expired_grant_is_ignored if {
	expired := object.union(f.grant("g1", "writer"), {"expires_at_ns": f.now_ns - 1})
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [expired])
	d.allow == false
	d.elevation.role == "writer"
}

test_grant_expiring_exactly_now_is_ignored if {
	edge := object.union(f.grant("g1", "writer"), {"expires_at_ns": f.now_ns})
	d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [edge])
	d1.allow == false
}

test_grant_without_numeric_expiry_is_ignored if {
	odd := object.union(f.grant("g1", "writer"), {"expires_at_ns": "9999999999999999999"})
	d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [odd])
	d1.allow == false
}

test_expired_grant_next_to_live_one_is_not_reported if {
	expired := object.union(f.grant("old", "writer"), {"expires_at_ns": f.now_ns - 1})
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [expired, f.grant("new", "writer")])
	d.allow == true
	d.grant_ids == ["new"]
}

# --- grant scopes ----------------------------------------------------------------

test_scope_on_matching_route_method_and_path_allows if {
	scope := {"route": "demo", "methods": ["POST", "PUT"], "paths": ["/api/items/*"]}
	d := authz with input as f.authz_input(f.alice, "PUT", "/api/items/7", [f.scoped_grant("g1", "writer", scope)])
	d.allow == true
	d.grant_ids == ["g1"]
}

test_scope_for_another_route_does_not_allow if {
	g := f.scoped_grant("g1", "writer", {"route": "billing"})
	d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d1.allow == false
}

test_scope_for_other_methods_does_not_allow if {
	g := f.scoped_grant("g1", "writer", {"methods": ["POST"]})
	d1 := authz with input as f.authz_input(f.alice, "DELETE", "/api/items/1", [g])
	d1.allow == false
	d2 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d2.allow == true
}

test_scope_with_empty_method_list_allows_nothing if {
	g := f.scoped_grant("g1", "writer", {"methods": []})
	d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d1.allow == false
}

test_single_star_matches_one_segment_only if {
	g := f.scoped_grant("g1", "writer", {"paths": ["/api/items/*"]})
	d1 := authz with input as f.authz_input(f.alice, "PUT", "/api/items/7", [g])
	d1.allow == true
	d2 := authz with input as f.authz_input(f.alice, "PUT", "/api/items/7/tags", [g])
	d2.allow == false
	d3 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d3.allow == false
}

test_double_star_matches_any_depth if {
	g := f.scoped_grant("g1", "writer", {"paths": ["/api/items/**"]})
	d1 := authz with input as f.authz_input(f.alice, "PUT", "/api/items/7/tags/2", [g])
	d1.allow == true
	d2 := authz with input as f.authz_input(f.alice, "PUT", "/api/orders/7", [g])
	d2.allow == false
}

test_one_of_several_path_patterns_is_enough if {
	g := f.scoped_grant("g1", "writer", {"paths": ["/api/orders/**", "/api/items"]})
	d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d1.allow == true
}

test_scoped_grant_outside_scope_still_gets_a_hint if {
	g := f.scoped_grant("g1", "writer", {"paths": ["/api/orders/**"]})
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
	d.allow == false
	d.elevation.role == "writer"
}

test_only_grants_covering_the_request_are_reported if {
	narrow := f.scoped_grant("narrow", "writer", {"paths": ["/api/orders/**"]})
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [narrow, f.grant("wide", "writer")])
	d.grant_ids == ["wide"]
}

test_every_malformed_scope_fails_closed if {
	every scope in [{"methods": "POST"}, {"paths": "/api/**"}, "everything", ["/api/**"], 1] {
		g := f.scoped_grant("g1", "writer", scope)
		d1 := authz with input as f.authz_input(f.alice, "POST", "/api/items", [g])
		d1.allow == false
	}
}

# --- /admin/ ---------------------------------------------------------------------

test_admin_path_without_grant_is_denied_with_admin_hint if {
	d := authz with input as f.authz_input(f.dave, "GET", "/admin/users", [])
	d.allow == false
	d.reason == "paths under /admin/ need an active admin grant"
	d.elevation == {"role": "admin", "max_duration_seconds": 3600, "require_ticket": true}
}

test_admin_path_itself_needs_a_grant if {
	d := authz with input as f.authz_input(f.alice, "GET", "/admin", [])
	d.allow == false
	d.elevation.role == "admin"
}

test_writer_grant_does_not_open_admin if {
	d := authz with input as f.authz_input(f.alice, "POST", "/admin/rotate-keys", [f.grant("g1", "writer")])
	d.allow == false
	d.elevation.role == "admin"
}

test_admin_grant_opens_admin_with_admin_credential if {
	d := authz with input as f.authz_input(f.alice, "POST", "/admin/rotate-keys", [f.grant("g1", "admin")])
	d.allow == true
	d.obligations == {"credential": "admin"}
	d.grant_ids == ["g1"]
}

test_breakglass_grant_opens_admin if {
	d := authz with input as f.authz_input(f.bob, "GET", "/admin/users", [f.grant("bg", "breakglass")])
	d.allow == true
	d.obligations.credential == "admin"
	d.grant_ids == ["bg"]
}

test_admin_grant_scoped_to_reads_cannot_rotate_keys if {
	g := f.scoped_grant("g1", "admin", {"route": "demo", "methods": ["GET"], "paths": ["/admin/**"]})
	d1 := authz with input as f.authz_input(f.alice, "GET", "/admin/users", [g])
	d1.allow == true
	d2 := authz with input as f.authz_input(f.alice, "POST", "/admin/rotate-keys", [g])
	d2.allow == false
}

test_expired_admin_grant_is_ignored if {
	expired := object.union(f.grant("g1", "admin"), {"expires_at_ns": f.now_ns - 1})
	d1 := authz with input as f.authz_input(f.dave, "GET", "/admin/users", [expired])
	d1.allow == false
}

test_admin_membership_alone_opens_nothing if {
	# dave is in group admins, but access to /admin/ comes from a grant, never a group.
	d1 := authz with input as f.authz_input(f.dave, "POST", "/admin/rotate-keys", [])
	d1.allow == false
}

# --- paths outside /api/ and /admin/, and path tricks ----------------------------

test_every_unknown_path_is_denied_without_hint if {
	every path in ["/", "/api", "/metrics", "/API/items", "/Admin/users", "/apix/items", "/internal/api/items"] {
		d := authz with input as f.authz_input(f.alice, "GET", path, [f.grant("g1", "admin")])
		d.allow == false
		d.reason == "no rule covers this path: only /api/ and /admin/ are served"
		not d.elevation
	}
}

test_dot_segments_are_refused if {
	every path in ["/api/../admin/users", "/api/./items", "/api/items/..", "/api/items/."] {
		d := authz with input as f.authz_input(f.alice, "GET", path, [f.grant("g1", "writer")])
		d.allow == false
		d.reason == "the request path is not in normalized form"
		not d.elevation
	}
}

test_dots_and_percents_that_are_not_dot_segments_or_encoded_separators_pass if {
	every path in ["/api/.well-known/x", "/api/items/...", "/api/v1.2/items", "/api/items/a..b", "/api/items/%41", "/api/items/50%"] {
		d := authz with input as f.authz_input(f.alice, "GET", path, [])
		d.allow == true
	}
	every path in ["/..", "/.", "/api/a.b/.", "/api/.../../admin"] {
		d := authz with input as f.authz_input(f.alice, "GET", path, [])
		d.reason == "the request path is not in normalized form"
	}
}

test_encoded_and_doubled_separators_are_refused if {
	every path in [
		"/api/%2e%2e/admin/users", "/api/%2E%2E/admin/users", "/api/items%2F..%2F..%2Fadmin",
		"/api//items", "/api/items\\..\\admin", "/api/items%5cadmin", "/api/items%00",
	] {
		d1 := authz with input as f.authz_input(f.alice, "GET", path, [])
		d1.allow == false
	}
}

test_relative_or_missing_path_is_refused if {
	d1 := authz with input as f.authz_input(f.alice, "GET", "api/items", [])
	d1.allow == false
	inp := f.authz_input(f.alice, "GET", "/api/items", [])
	d2 := authz with input as json.remove(inp, ["request/path"])
	d2.allow == false
	d3 := authz with input as object.union(inp, {"request": {"path": 42}})
	d3.allow == false
}

test_path_trick_with_writer_grant_does_not_reach_admin if {
	d := authz with input as f.authz_input(f.alice, "POST", "/api/../admin/rotate-keys", [f.grant("g1", "writer")])
	d.allow == false
	not d.obligations
}

# --- subjects --------------------------------------------------------------------

test_unknown_subject_kind_is_denied if {
	robot := {"id": "r2", "kind": "robot", "groups": ["eng"], "claims": {}}
	d := authz with input as f.authz_input(robot, "GET", "/api/items", [])
	d.allow == false
	d.reason == "only authenticated employees and registered service accounts may call this route"
}

test_missing_subject_is_denied if {
	inp := json.remove(f.authz_input(f.alice, "GET", "/api/items", []), ["subject"])
	d := authz with input as inp
	d.allow == false
	is_string(d.reason)
}

test_empty_input_is_denied_with_a_reason if {
	d := authz with input as {}
	d.allow == false
	is_string(d.reason)
}

# --- service accounts ------------------------------------------------------------

test_service_reads_reports_with_readonly_credential if {
	d := authz with input as f.authz_input(f.svc_reporting, "GET", "/api/reports/daily", [])
	d.allow == true
	d.obligations == {"credential": "readonly"}
}

test_service_cannot_read_outside_its_standing_permission if {
	every path in ["/api/items", "/api/reports", "/admin/users"] {
		d := authz with input as f.authz_input(f.svc_reporting, "GET", path, [])
		d.allow == false
		d.reason == "this service account has no standing permission for this request"
		not d.elevation
	}
}

test_service_cannot_write_reports_and_gets_no_hint if {
	d := authz with input as f.authz_input(f.svc_reporting, "POST", "/api/reports/daily", [])
	d.allow == false
	not d.elevation
}

test_service_head_is_not_in_its_permission if {
	d1 := authz with input as f.authz_input(f.svc_reporting, "HEAD", "/api/reports/daily", [])
	d1.allow == false
}

test_service_permission_is_bound_to_its_route if {
	inp := f.authz_input(f.svc_reporting, "GET", "/api/reports/daily", [])
	d1 := authz with input as object.union(inp, {"route": {"name": "billing"}})
	d1.allow == false
}

# A service account never holds roles; a grant in its input (which the workflow never
# issues) must not widen its access.
test_service_ignores_grants if {
	d := authz with input as f.authz_input(f.svc_reporting, "POST", "/api/items", [f.grant("g1", "writer")])
	d.allow == false
	not d.elevation
}

test_unregistered_service_is_denied if {
	stranger := object.union(f.svc_reporting, {"id": "svc-unknown"})
	d := authz with input as f.authz_input(stranger, "GET", "/api/reports/daily", [])
	d.allow == false
	d.reason == "this service account is not registered in the policy data"
}

test_service_account_posing_as_user_id_is_still_a_service if {
	# A service named like an employee gets the service rules, not the employee ones.
	impostor := object.union(f.svc_reporting, {"id": "alice"})
	d1 := authz with input as f.authz_input(impostor, "GET", "/api/items", [])
	d1.allow == false
}

# --- credentials the route offers ------------------------------------------------

test_allow_needs_the_credential_on_the_route if {
	inp := f.authz_input(f.alice, "POST", "/api/items", [f.grant("g1", "writer")])
	d := authz with input as object.union(inp, {"route": {"credentials": ["readonly"]}})
	d.allow == false
	d.reason == "the route does not offer the upstream credential this rule needs"
	not d.obligations
}

test_route_without_credentials_allows_nothing if {
	inp := json.remove(f.authz_input(f.alice, "GET", "/api/items", []), ["route/credentials"])
	d1 := authz with input as inp
	d1.allow == false
}

# --- result shape ----------------------------------------------------------------

test_result_holds_only_contract_fields if {
	fields := {"allow", "reason", "elevation", "obligations", "grant_ids"}
	read := authz with input as f.authz_input(f.alice, "GET", "/api/items", [])
	hinted := authz with input as f.authz_input(f.alice, "POST", "/api/items", [])
	admin := authz with input as f.authz_input(f.alice, "POST", "/admin/rotate-keys", [f.grant("g1", "admin")])
	empty := authz with input as {}
	object.keys(read) - fields == set()
	object.keys(hinted) - fields == set()
	object.keys(admin) - fields == set()
	object.keys(empty) - fields == set()
}

test_hint_says_a_ticket_only_for_a_role_that_asks_for_one if {
	d := authz with input as f.authz_input(f.alice, "POST", "/api/items", [])
	d.elevation == {"role": "writer", "max_duration_seconds": 28800}
	no_ticket := authz with input as f.authz_input(f.dave, "GET", "/admin/users", [])
		with data.jitgate.roles.admin.require_ticket as false
	no_ticket.elevation == {"role": "admin", "max_duration_seconds": 3600}
}

test_hint_without_a_known_duration_still_names_the_role if {
	inp := f.authz_input(f.alice, "POST", "/api/items", [])
	d := authz with input as inp with data.jitgate.roles.writer.max_duration_seconds as null
	d.elevation == {"role": "writer"}
}

test_service_permission_without_paths_covers_nothing if {
	loose := [{"route": "demo", "methods": ["GET"], "credential": "readonly"}]
	inp := f.authz_input(f.svc_reporting, "GET", "/api/reports/daily", [])
	d := authz with input as inp with data.jitgate.service_accounts["svc-reporting"].permissions as loose
	d.allow == false
}

# --- refunds: decided on the amount in the request body ---------------------------

test_refund_within_the_writer_limit_is_allowed if {
	d := authz with input as f.refund_input(f.alice, {"order": "o-7", "amount": 100}, [f.grant("g1", "writer")])
	d.allow == true
	d.reason == "refund within the limit of an active grant"
	d.obligations.credential == "writer"
	d.grant_ids == ["g1"]
}

test_refund_above_the_writer_limit_is_denied_with_admin_hint if {
	d := authz with input as f.refund_input(f.alice, {"order": "o-7", "amount": 100.5}, [f.grant("g1", "writer")])
	d.allow == false
	d.reason == "this refund needs an active grant of a role whose refund limit covers it"
	d.elevation == {"role": "admin", "max_duration_seconds": 3600, "require_ticket": true}
}

test_refund_without_grant_hints_the_smallest_role_that_covers_it if {
	d1 := authz with input as f.refund_input(f.alice, {"amount": 20}, [])
	d1.allow == false
	d1.elevation.role == "writer"
	d2 := authz with input as f.refund_input(f.alice, {"amount": 10000}, [])
	d2.elevation.role == "admin"
}

test_admin_grant_covers_large_refunds if {
	d := authz with input as f.refund_input(f.alice, {"amount": 10000}, [f.grant("g2", "admin"), f.grant("g1", "writer")])
	d.allow == true
	d.grant_ids == ["g2"]
}

test_refund_above_every_limit_is_denied_without_hint if {
	d := authz with input as f.refund_input(f.alice, {"amount": 10001}, [f.grant("g2", "admin")])
	d.allow == false
	d.reason == "no role may refund this much"
	not d.elevation
}

test_refund_needs_a_positive_numeric_amount if {
	every body in [{}, {"amount": "50"}, {"amount": 0}, {"amount": -5}, {"amount": null}, ["amount", 50], "amount=50"] {
		d := authz with input as f.refund_input(f.alice, body, [f.grant("g1", "writer")])
		d.allow == false
		d.reason == "a refund needs a JSON body whose amount is a positive number"
	}
}

test_refund_whose_body_was_not_read_is_denied if {
	every status in ["none", "too_large", "malformed", "unsupported"] {
		d := authz with input as f.unread_refund_input(f.alice, status, [f.grant("g1", "writer")])
		d.allow == false
		d.reason == "a refund needs a JSON body whose amount is a positive number"
	}
}

test_refund_on_a_route_that_does_not_read_bodies_is_denied if {
	d := authz with input as f.authz_input(f.alice, "POST", "/api/refunds", [f.grant("g1", "writer")])
	d.allow == false
	d.reason == "refunds are decided on their amount, and this route does not show the policy request bodies"
}

test_a_scoped_grant_must_cover_the_refund_path if {
	g := f.scoped_grant("g1", "writer", {"methods": ["POST"], "paths": ["/api/items/*"]})
	d := authz with input as f.refund_input(f.alice, {"amount": 10}, [g])
	d.allow == false
	d.elevation.role == "writer"
}

test_other_writes_ignore_the_body if {
	i := object.union(f.authz_input(f.alice, "POST", "/api/items", [f.grant("g1", "writer")]), {"request": {"body_status": "parsed", "body": {"amount": 1000000}}})
	d := authz with input as i
	d.allow == true
	d.reason == "write under /api/ allowed by an active grant"
}

# --- requests.under: for rules that narrow a broader allow -------------------------

test_under_covers_the_prefix_and_below_in_any_case if {
	every path in ["/api/billing", "/api/billing/", "/api/billing/charge", "/api/Billing/charge", "/API/BILLING"] {
		requests.under("/api/billing") with input as f.authz_input(f.alice, "POST", path, [])
	}
}

test_under_stops_at_the_segment_boundary if {
	every path in ["/api/billingx", "/api/bill", "/api", "/other/api/billing"] {
		not requests.under("/api/billing") with input as f.authz_input(f.alice, "POST", path, [])
	}
}

test_at_is_the_path_in_any_case_with_or_without_a_trailing_slash_or_format_suffix if {
	every path in ["/api/refunds", "/api/refunds/", "/api/Refunds", "/API/REFUNDS/", "/api/refunds.json", "/api/Refunds.XML"] {
		requests.at("/api/refunds") with input as f.authz_input(f.alice, "POST", path, [])
	}
	every path in ["/api/refunds/1", "/api/refundsx", "/api/refund", "/api", "/other/api/refunds", "/api/refunds.json/x"] {
		not requests.at("/api/refunds") with input as f.authz_input(f.alice, "POST", path, [])
	}
}

# An exact `path == "/api/refunds"` let these through as plain writes under a writer grant.
test_every_spelling_of_the_refund_path_is_judged_as_a_refund if {
	every path in ["/api/refunds/", "/api/Refunds", "/API/REFUNDS/", "/api/refunds.json"] {
		i := object.union(f.refund_input(f.alice, {"order": "o-7", "amount": 4000}, [f.grant("g1", "writer")]), {"request": {"path": path}})
		d := authz with input as i
		d.allow == false
		d.reason == "this refund needs an active grant of a role whose refund limit covers it"
		d.elevation.role == "admin"
	}
}

test_a_refund_spelled_otherwise_is_still_allowed_within_the_limit if {
	i := object.union(f.refund_input(f.alice, {"amount": 40}, [f.grant("g1", "writer")]), {"request": {"path": "/api/Refunds/"}})
	d := authz with input as i
	d.allow == true
	d.reason == "refund within the limit of an active grant"
}
