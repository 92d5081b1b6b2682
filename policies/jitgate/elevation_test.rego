package jitgate.elevation_test

import data.jitgate.elevation
import data.jitgate.fixtures_test as f

# --- request ---------------------------------------------------------------------

test_writer_request_carries_the_role_settings if {
	d := elevation with input as f.step("request", f.ask("writer", 3600, "fix the item import", null), f.alice, f.alice, null)
	d.allow == true
	d.max_duration_seconds == 28800
	d.approvals_required == 1
	d.approver_groups == ["approvers"]
	d.auto_approve == false
	d.break_glass == false
	d.require_reason == true
	d.require_ticket == false
	d.step_up == false
	d.max_extensions == 2
}

test_admin_request_needs_two_approvals_and_a_ticket if {
	d := elevation with input as f.step("request", f.ask("admin", 1800, "rotate the leaked key", "INC-42"), f.alice, f.alice, null)
	d.allow == true
	d.approvals_required == 2
	d.require_ticket == true
	d.max_duration_seconds == 3600
	d.max_extensions == 0
}

test_admin_request_without_ticket_is_denied if {
	every ticket in [null, "", "   "] {
		d := elevation with input as f.step("request", f.ask("admin", 1800, "rotate the leaked key", ticket), f.alice, f.alice, null)
		d.allow == false
		d.reason == "role admin requires a ticket"
	}
}

test_dave_in_admins_is_eligible_for_admin_but_not_writer if {
	d1 := elevation with input as f.step("request", f.ask("admin", 600, "audit user list", "CHG-7"), f.dave, f.dave, null)
	d1.allow == true
	d := elevation with input as f.step("request", f.ask("writer", 600, "fix data", null), f.dave, f.dave, null)
	d.allow == false
	d.reason == "the requester is not in a group eligible for role writer"
}

test_breakglass_is_auto_approved_and_flagged if {
	d := elevation with input as f.step("request", f.ask("breakglass", 1800, "production outage, pager INC-9", null), f.erin, f.erin, null)
	d.allow == true
	d.auto_approve == true
	d.break_glass == true
	d.approvals_required == 0
}

test_breakglass_needs_a_reason_of_ten_characters if {
	short := elevation with input as f.step("request", f.ask("breakglass", 1800, "outage", null), f.erin, f.erin, null)
	short.allow == false
	short.reason == "a reason of at least 10 characters is required"

	padded := elevation with input as f.step("request", f.ask("breakglass", 1800, "  outage        ", null), f.erin, f.erin, null)
	padded.allow == false

	d1 := elevation with input as f.step("request", f.ask("breakglass", 1800, "outage!!!!", null), f.erin, f.erin, null)
	d1.allow == true
}

test_reason_is_required if {
	every reason in ["", "   ", null, 42] {
		d := elevation with input as f.step("request", f.ask("writer", 3600, reason, null), f.alice, f.alice, null)
		d.allow == false
		d.reason == "a reason of at least 1 characters is required"
	}
}

test_duration_must_be_positive_and_within_the_maximum if {
	d1 := elevation with input as f.step("request", f.ask("writer", 28800, "fix", null), f.alice, f.alice, null)
	d1.allow == true
	every duration in [0, -60, 28801, "3600", null] {
		d := elevation with input as f.step("request", f.ask("writer", duration, "fix", null), f.alice, f.alice, null)
		d.allow == false
		d.reason == "the duration must be between 1 and 28800 seconds"
	}
}

test_admin_duration_is_capped_at_one_hour if {
	d := elevation with input as f.step("request", f.ask("admin", 3601, "rotate keys", "INC-1"), f.alice, f.alice, null)
	d.allow == false
	d.reason == "the duration must be between 1 and 3600 seconds"
}

test_unknown_role_is_denied_without_settings if {
	d := elevation with input as f.step("request", f.ask("root", 60, "because", null), f.alice, f.alice, null)
	d.allow == false
	d.reason == "unknown role"
	not d.max_duration_seconds
	not d.approver_groups
}

test_service_account_cannot_request_roles if {
	d := elevation with input as f.step("request", f.ask("writer", 60, "nightly fix", null), f.svc_reporting, f.svc_reporting, null)
	d.allow == false
	d.reason == "only people can request roles; service accounts keep their standing permissions"
}

test_service_account_in_eligible_group_still_cannot_request if {
	svc := object.union(f.svc_reporting, {"groups": ["eng", "admins"]})
	d1 := elevation with input as f.step("request", f.ask("admin", 60, "nightly fix", "INC-1"), svc, svc, null)
	d1.allow == false
}

test_request_on_someone_elses_behalf_is_denied if {
	d := elevation with input as f.step("request", f.ask("writer", 3600, "fix", null), f.bob, f.alice, null)
	d.allow == false
	d.reason == "a request is made by the requester, never on someone else's behalf"
}

test_first_problem_is_named if {
	# Not eligible, too long and without a reason: eligibility is reported first.
	d := elevation with input as f.step("request", f.ask("writer", 999999, "", null), f.dave, f.dave, null)
	d.reason == "the requester is not in a group eligible for role writer"
}

test_missing_request_fields_fail_closed if {
	inp := f.step("request", {"role": "writer"}, f.alice, f.alice, null)
	d := elevation with input as inp
	d.allow == false
	is_string(d.reason)
}

# --- approve / deny --------------------------------------------------------------

test_approver_approves_someone_elses_request if {
	d := elevation with input as f.step("approve", f.pending("writer"), f.bob, f.alice, null)
	d.allow == true
}

test_approver_can_deny_too if {
	d1 := elevation with input as f.step("deny", f.pending("writer"), f.carol, f.alice, null)
	d1.allow == true
}

test_self_approval_is_refused_even_for_an_admin_approver if {
	every action in ["approve", "deny"] {
		d := elevation with input as f.step(action, f.pending("admin"), f.dave, f.dave, null)
		d.allow == false
		d.reason == "nobody approves or denies their own request"
	}
}

test_self_approval_is_refused_for_approvers if {
	d := elevation with input as f.step("approve", f.pending("writer"), f.bob, f.bob, null)
	d.allow == false
	d.reason == "nobody approves or denies their own request"
}

test_self_approval_with_different_letter_case_is_refused if {
	shouting_bob := object.union(f.bob, {"id": "BOB"})
	d1 := elevation with input as f.step("approve", f.pending("writer"), shouting_bob, f.bob, null)
	d1.allow == false
}

test_self_approval_with_surrounding_spaces_is_refused if {
	every id in ["bob ", " bob", " Bob\t"] {
		spaced_bob := object.union(f.bob, {"id": id})
		d := elevation with input as f.step("approve", f.pending("writer"), spaced_bob, f.bob, null)
		d.allow == false
		d.reason == "nobody approves or denies their own request"
	}
}

test_an_id_that_only_looks_like_the_holders_has_no_holder_rights if {
	# "ALICE" is another account to the identity provider: it may not act as alice's holder.
	shouting_alice := object.union(f.alice, {"id": "ALICE"})
	every action in ["revoke", "view"] {
		d := elevation with input as f.step(action, f.pending("writer"), shouting_alice, f.alice, f.grant("g1", "writer"))
		d.allow == false
	}
	w := elevation with input as f.step("withdraw", f.pending("writer"), shouting_alice, f.alice, null)
	w.allow == false
}

test_approve_says_whether_the_requester_may_still_hold_the_role if {
	d := elevation with input as f.step("approve", f.pending("writer"), f.bob, f.alice, null)
	d.requester_eligible == true

	# The role's eligible groups changed since alice asked: bob may decide, the grant would open nothing.
	moved := elevation with input as f.step("approve", f.pending("writer"), f.bob, f.alice, null)
		with data.jitgate.roles.writer.eligible_groups as ["sre"]
	moved.allow == true
	moved.requester_eligible == false

	# Denying such a request stays possible, and says nothing about eligibility.
	denied := elevation with input as f.step("deny", f.pending("writer"), f.bob, f.alice, null)
		with data.jitgate.roles.writer.eligible_groups as ["sre"]
	denied.allow == true
	not denied.requester_eligible
}

test_approve_says_whether_the_request_still_meets_the_role if {
	d := elevation with input as f.step("approve", f.pending("writer"), f.bob, f.alice, null)
	d.request_within_settings == true

	# Tightened since alice asked for an hour: a shorter maximum, a ticket, a longer reason.
	every tightened in [
		{"max_duration_seconds": 1800},
		{"require_ticket": true},
		{"min_reason_length": 40},
	] {
		pending := object.union(f.pending("writer"), {"ticket": null})
		t := elevation with input as f.step("approve", pending, f.bob, f.alice, null)
			with data.jitgate.roles.writer as object.union(data.jitgate.roles.writer, tightened)
		t.allow == true
		t.request_within_settings == false
	}

	# An extension waiting while the role's extensions were cut to none.
	ext := object.union(f.pending("writer"), {"extends_grant_id": "g1", "extension_count": 0})
	more := elevation with input as f.step("approve", ext, f.bob, f.alice, f.grant("g1", "writer"))
	more.request_within_settings == true
	none := elevation with input as f.step("approve", ext, f.bob, f.alice, f.grant("g1", "writer"))
		with data.jitgate.roles.writer.max_extensions as 0
	none.request_within_settings == false

	# Denying such a request stays possible, and says nothing about it.
	denied := elevation with input as f.step("deny", f.pending("writer"), f.bob, f.alice, null)
		with data.jitgate.roles.writer.max_duration_seconds as 60
	denied.allow == true
	not denied.request_within_settings
}

test_non_approver_cannot_approve if {
	d := elevation with input as f.step("approve", f.pending("writer"), f.erin, f.alice, null)
	d.allow == false
	d.reason == "only members of approvers can approve or deny this role"
}

test_service_account_in_approvers_group_cannot_approve if {
	bot := object.union(f.svc_reporting, {"groups": ["approvers", "admins"]})
	d := elevation with input as f.step("approve", f.pending("writer"), bot, f.alice, null)
	d.allow == false
	d.reason == "only people can approve or deny requests"
}

test_only_pending_requests_can_be_decided if {
	every status in ["approved", "denied", "withdrawn", "expired", "new"] {
		req := object.union(f.pending("writer"), {"status": status})
		d := elevation with input as f.step("approve", req, f.bob, f.alice, null)
		d.allow == false
		d.reason == "the request is no longer pending"
	}
}

test_second_approval_by_same_approver_is_refused if {
	req := object.union(f.pending("admin"), {"approvals": [{"by": "bob", "at": "2027-01-15T08:05:00Z"}]})
	d := elevation with input as f.step("approve", req, f.bob, f.alice, null)
	d.allow == false
	d.reason == "this approver has already approved the request"

	d1 := elevation with input as f.step("approve", req, f.carol, f.alice, null)
	d1.allow == true
}

test_approving_unknown_role_is_refused if {
	d := elevation with input as f.step("approve", f.pending("root"), f.bob, f.alice, null)
	d.allow == false
	d.reason == "unknown role"
}

test_approval_with_missing_ids_fails_closed if {
	anonymous := json.remove(f.bob, ["id"])
	d1 := elevation with input as f.step("approve", f.pending("writer"), anonymous, f.alice, null)
	d1.allow == false
}

# --- withdraw --------------------------------------------------------------------

test_requester_withdraws_pending_request if {
	d1 := elevation with input as f.step("withdraw", f.pending("writer"), f.alice, f.alice, null)
	d1.allow == true
}

test_nobody_else_withdraws if {
	d := elevation with input as f.step("withdraw", f.pending("writer"), f.dave, f.alice, null)
	d.allow == false
	d.reason == "only the requester can withdraw a request"
}

test_decided_request_cannot_be_withdrawn if {
	req := object.union(f.pending("writer"), {"status": "approved"})
	d := elevation with input as f.step("withdraw", req, f.alice, f.alice, null)
	d.allow == false
	d.reason == "the request is no longer pending"
}

# --- revoke ----------------------------------------------------------------------

test_holder_revokes_own_grant if {
	d := elevation with input as f.step("revoke", f.pending("writer"), f.alice, f.alice, f.grant("g1", "writer"))
	d.allow == true
	d.reason == "the holder ends their own grant"
}

test_approver_of_the_role_revokes if {
	d := elevation with input as f.step("revoke", f.pending("writer"), f.bob, f.alice, f.grant("g1", "writer"))
	d.allow == true
	d.reason == "an approver of the role revokes the grant"
}

test_admin_revokes_even_a_role_that_no_longer_exists if {
	d := elevation with input as f.step("revoke", f.pending("retired-role"), f.dave, f.alice, f.grant("g1", "retired-role"))
	d.allow == true
	d.reason == "an administrator revokes the grant"
}

test_other_employee_cannot_revoke if {
	d := elevation with input as f.step("revoke", f.pending("writer"), f.erin, f.alice, f.grant("g1", "writer"))
	d.allow == false
	d.reason == "only the holder, the role's approvers or administrators can revoke a grant"
}

test_service_in_admins_group_cannot_revoke if {
	bot := object.union(f.svc_reporting, {"groups": ["admins"]})
	d1 := elevation with input as f.step("revoke", f.pending("writer"), bot, f.alice, f.grant("g1", "writer"))
	d1.allow == false
}

# --- extend ----------------------------------------------------------------------

extension(role, count) := object.union(f.ask(role, 3600, "still importing", "INC-42"), {
	"extends_grant_id": "g1",
	"extension_count": count,
})

test_holder_extends_writer_grant if {
	d := elevation with input as f.step("extend", extension("writer", 0), f.alice, f.alice, f.grant("g1", "writer"))
	d.allow == true
	d.approvals_required == 1
	d.max_extensions == 2
}

test_writer_grant_extends_at_most_twice if {
	d1 := elevation with input as f.step("extend", extension("writer", 1), f.alice, f.alice, f.grant("g1", "writer"))
	d1.allow == true
	d := elevation with input as f.step("extend", extension("writer", 2), f.alice, f.alice, f.grant("g1", "writer"))
	d.allow == false
	d.reason == "role writer allows at most 2 extensions"
}

test_admin_grant_never_extends if {
	d := elevation with input as f.step("extend", extension("admin", 0), f.alice, f.alice, f.grant("g1", "admin"))
	d.allow == false
	d.reason == "role admin allows at most 0 extensions"
}

test_extension_follows_the_request_rules if {
	long := object.union(extension("writer", 0), {"duration_seconds": 28801})
	d := elevation with input as f.step("extend", long, f.alice, f.alice, f.grant("g1", "writer"))
	d.allow == false
	d.reason == "the duration must be between 1 and 28800 seconds"
}

test_extension_by_someone_else_is_refused if {
	d := elevation with input as f.step("extend", extension("writer", 0), f.bob, f.alice, f.grant("g1", "writer"))
	d.allow == false
}

test_extension_needs_a_live_grant_of_the_same_role if {
	expired := object.union(f.grant("g1", "writer"), {"expires_at_ns": f.now_ns - 1})
	every g in [null, expired, f.grant("g1", "breakglass")] {
		d := elevation with input as f.step("extend", extension("writer", 0), f.alice, f.alice, g)
		d.allow == false
		d.reason == "an extension needs the live grant it extends"
	}
}

test_extension_with_missing_count_fails_closed if {
	req := json.remove(extension("writer", 0), ["extension_count"])
	d1 := elevation with input as f.step("extend", req, f.alice, f.alice, f.grant("g1", "writer"))
	d1.allow == false
}

# --- review (break-glass) --------------------------------------------------------

breakglass_grant := object.union(f.grant("bg1", "breakglass"), {"approved_by": []})

test_approver_reviews_someone_elses_break_glass if {
	every reviewer in [f.bob, f.dave] {
		d1 := elevation with input as f.step("review", f.pending("breakglass"), reviewer, f.erin, breakglass_grant)
		d1.allow == true
	}
}

test_break_glass_holder_never_reviews_own_access if {
	d := elevation with input as f.step("review", f.pending("breakglass"), f.dave, f.dave, breakglass_grant)
	d.allow == false
	d.reason == "nobody reviews their own break-glass access"
}

test_plain_employee_cannot_review if {
	d := elevation with input as f.step("review", f.pending("breakglass"), f.alice, f.erin, breakglass_grant)
	d.allow == false
	d.reason == "only members of admins, approvers can review break-glass access"
}

test_only_break_glass_grants_are_reviewed if {
	d := elevation with input as f.step("review", f.pending("writer"), f.bob, f.alice, f.grant("g1", "writer"))
	d.allow == false
	d.reason == "only break-glass grants are reviewed"
}

test_grant_flagged_break_glass_is_reviewable_whatever_its_role if {
	flagged := object.union(f.grant("g1", "admin"), {"break_glass": true})
	d1 := elevation with input as f.step("review", f.pending("admin"), f.bob, f.alice, flagged)
	d1.allow == true
}

# --- anything else ---------------------------------------------------------------

test_unknown_action_is_refused if {
	d := elevation with input as f.step("escalate", f.pending("writer"), f.dave, f.alice, null)
	d.allow == false
	d.reason == "unknown workflow action"
}

test_empty_input_is_refused_with_a_reason if {
	d := elevation with input as {}
	d.allow == false
	is_string(d.reason)
}

test_result_holds_only_contract_fields if {
	fields := {
		"allow", "reason", "max_duration_seconds", "approvals_required", "approver_groups", "auto_approve",
		"break_glass", "require_reason", "require_ticket", "step_up", "max_extensions",
	}
	d1 := elevation with input as f.step("request", f.ask("writer", 3600, "fix", null), f.alice, f.alice, null)
	object.keys(d1) - fields == set()
}

test_role_without_required_reason_accepts_a_blank_one if {
	inp := f.step("request", f.ask("writer", 3600, "", null), f.alice, f.alice, null)
	d := elevation with input as inp with data.jitgate.roles.writer.require_reason as false
	d.allow == true
}

test_break_glass_role_is_reviewable_before_its_grant_is_known if {
	d1 := elevation with input as f.step("review", f.pending("breakglass"), f.bob, f.erin, null)
	d1.allow == true
}

# --- view ------------------------------------------------------------------------

test_requester_sees_own_request if {
	d := elevation with input as f.step("view", f.pending("writer"), f.alice, f.alice, null)
	d.allow == true
	d.reason == "the requester sees their own"
}

test_other_employee_does_not_see_a_request if {
	d := elevation with input as f.step("view", f.pending("writer"), f.erin, f.alice, null)
	d.allow == false
	d.reason == "only the requester, the role's approvers, reviewers and administrators see this"
}

test_approver_of_the_role_sees_it if {
	d := elevation with input as f.step("view", f.pending("writer"), f.bob, f.alice, f.grant("g1", "writer"))
	d.allow == true
	d.reason == "an approver of the role sees it"
}

test_administrator_sees_a_retired_role if {
	ann := {"id": "ann", "kind": "user", "groups": ["admins"], "claims": {}}
	d := elevation with input as f.step("view", f.pending("retired-role"), ann, f.alice, null)
	d.allow == true
	d.reason == "reviewers and administrators see every request and grant"
}

# --- audit_read ------------------------------------------------------------------

audit_step(actor) := {"action": "audit_read", "request": null, "actor": actor, "requester": null, "grant": null, "now_ns": f.now_ns}

test_administrator_reads_the_audit_trail if {
	d := elevation with input as audit_step(f.dave)
	d.allow == true
	d.reason == "members of the audit reader groups read the audit trail"
}

test_auditor_service_account_reads_the_audit_trail if {
	exporter := {"id": "svc-siem", "kind": "service", "groups": ["auditors"], "claims": {}}
	d := elevation with input as audit_step(exporter)
	d.allow == true
}

test_approver_does_not_read_the_audit_trail if {
	d := elevation with input as audit_step(f.bob)
	d.allow == false
	d.reason == "only members of admins, auditors read the audit trail"
}

test_audit_reader_groups_come_from_the_data if {
	d := elevation with input as audit_step(f.bob) with data.jitgate.audit_reader_groups as ["approvers"]
	d.allow == true
}

test_audit_read_without_groups_is_refused if {
	d := elevation with input as audit_step({"id": "x", "kind": "user", "claims": {}})
	d.allow == false
}

test_service_account_sees_nothing_of_others if {
	d := elevation with input as f.step("view", f.pending("writer"), f.svc_reporting, f.alice, null)
	d.allow == false
}

# --- the same person: id and kind -------------------------------------------------

# An API key minted with a person's id as its subject (`jitgate apikey --subject bob`) is a
# service, not that person: comparing ids alone let it see, withdraw and revoke bob's.
bob_bot := {"id": "bob", "kind": "service", "groups": ["deploy"], "claims": {}}

test_service_key_with_a_persons_id_is_not_that_person if {
	every action in ["view", "withdraw", "revoke"] {
		d := elevation with input as f.step(action, f.pending("writer"), bob_bot, f.bob, f.grant("g1", "writer"))
		d.allow == false
	}
	d := elevation with input as f.step("withdraw", f.pending("writer"), bob_bot, f.bob, null)
	d.reason == "only the requester can withdraw a request"
}

test_the_person_still_acts_on_their_own if {
	every action in ["view", "withdraw", "revoke"] {
		d := elevation with input as f.step(action, f.pending("writer"), f.bob, f.bob, f.grant("g1", "writer"))
		d.allow == true
	}
}

test_a_subject_without_a_kind_is_nobodys_same_person if {
	no_kind := object.remove(f.bob, ["kind"])
	d := elevation with input as f.step("withdraw", f.pending("writer"), no_kind, no_kind, null)
	d.allow == false
}
