# The elevation decision for one workflow step. jitgate.elevation publishes its fields.
#
# Each action has an ordered chain: the first refusal that applies names the problem.
# Refusals are written as `not <the thing that must hold>`, and every chain ends by
# allowing only when all of its conditions hold together, so a missing input field
# can never slip through to an allow.
package jitgate.lib.workflow

import data.jitgate.lib.roles

request := input.request

actor := input.actor

requester := input.requester

# The definition of the role this step is about; undefined for an unknown role.
role := roles.definitions[request.role]

decision := request_decision if {
	input.action == "request"
} else := extend_decision if {
	input.action == "extend"
} else := approval_decision if {
	input.action in {"approve", "deny"}
} else := withdraw_decision if {
	input.action == "withdraw"
} else := revoke_decision if {
	input.action == "revoke"
} else := review_decision if {
	input.action == "review"
} else := view_decision if {
	input.action == "view"
} else := audit_read_decision if {
	input.action == "audit_read"
} else := deny("unknown workflow action")

# --- request: a person asks for a role -------------------------------------------

request_decision := d if {
	d := first_problem_with_ask
} else := allow("the request meets the role's rules") if {
	ask_is_valid
} else := deny("the request does not meet the role's rules")

# Shared by request and extend: who asks, for which role, for how long, and why.
first_problem_with_ask := deny("only people can request roles; service accounts keep their standing permissions") if {
	not roles.is_user(requester)
} else := deny("a request is made by the requester, never on someone else's behalf") if {
	not roles.same_person(actor, requester)
} else := deny("unknown role") if {
	not role
} else := deny(concat("", ["the requester is not in a group eligible for role ", request.role])) if {
	not requester_eligible
} else := deny(concat("", ["the duration must be between 1 and ", format_int(role.max_duration_seconds, 10), " seconds"])) if {
	not duration_ok
} else := deny(concat("", ["a reason of at least ", format_int(min_reason_length, 10), " characters is required"])) if {
	not reason_ok
} else := deny(concat("", ["role ", request.role, " requires a ticket"])) if {
	not ticket_ok
}

ask_is_valid if {
	roles.is_user(requester)
	roles.same_person(actor, requester)
	requester_eligible
	duration_ok
	reason_ok
	ticket_ok
}

requester_eligible if roles.member_of(requester, role.eligible_groups)

duration_ok if {
	is_number(request.duration_seconds)
	request.duration_seconds > 0
	request.duration_seconds <= role.max_duration_seconds
}

min_reason_length := object.get(role, "min_reason_length", 1)

reason_ok if role.require_reason == false

reason_ok if {
	is_string(request.reason)
	count(trim_space(request.reason)) >= min_reason_length
}

ticket_ok if role.require_ticket == false

ticket_ok if {
	is_string(request.ticket)
	trim_space(request.ticket) != ""
}

# --- extend: the holder asks for more time on a live grant ------------------------

extend_decision := d if {
	d := first_problem_with_ask
} else := deny("an extension needs the live grant it extends") if {
	not grant_extendable
} else := deny(concat("", ["role ", request.role, " allows at most ", format_int(role.max_extensions, 10), " extensions"])) if {
	not extensions_left
} else := allow("the extension meets the role's rules") if {
	ask_is_valid
	grant_extendable
	extensions_left
} else := deny("the extension does not meet the role's rules")

grant_extendable if {
	is_object(input.grant)
	input.grant.role == request.role
	input.grant.expires_at_ns > input.now_ns
}

extensions_left if {
	is_number(request.extension_count)
	request.extension_count < role.max_extensions
}

# --- approve / deny: an approver decides on a pending request ---------------------

approval_decision := deny("unknown role") if {
	not role
} else := deny("nobody approves or denies their own request") if {
	not approver_is_someone_else
} else := deny("only people can approve or deny requests") if {
	not roles.is_user(actor)
} else := deny(concat("", ["only members of ", concat(", ", role.approver_groups), " can approve or deny this role"])) if {
	not roles.member_of(actor, role.approver_groups)
} else := deny("the request is no longer pending") if {
	not pending
} else := deny("this approver has already approved the request") if {
	input.action == "approve"
	already_approved_by_actor
} else := allow("the approver may decide on this request") if {
	approver_is_someone_else
	roles.member_of(actor, role.approver_groups)
	pending
} else := deny("the approver may not decide on this request")

approver_is_someone_else if {
	is_string(actor.id)
	is_string(requester.id)
	not roles.maybe_same_person(actor, requester)
}

pending if request.status == "pending"

# Whether the requester may still hold the role: their groups stored with the request, against
# the role's eligible groups in the policy as it is now. The data path counts a grant only while
# its holder is eligible (jitgate.lib.grants), so a request whose requester no longer is would
# make a grant that opens nothing: elevation.rego publishes this for `approve`, and the workflow
# refuses such an approval (JITGATE_E_REQUESTER_NOT_ELIGIBLE) rather than issue it.
requester_still_eligible if {
	requester_eligible
} else := false

# Whether the request as stored still meets the role's rules as they are now: the checks a new
# request gets (duration, reason, ticket) and, for an extension, the extensions left on the grant
# (input.request.extension_count is the extended grant's). A role tightened while the request
# waited (a shorter maximum, a ticket now required) must not grant what a new request could not
# get: elevation.rego publishes this for `approve`, and the workflow refuses such an approval
# (JITGATE_E_REQUEST_OUTSIDE_SETTINGS) rather than issue it or cut it down.
request_within_settings if {
	duration_ok
	reason_ok
	ticket_ok
	extension_within_limit
} else := false

extension_within_limit if request.extends_grant_id == null

extension_within_limit if {
	is_string(request.extends_grant_id)
	extensions_left
}

already_approved_by_actor if {
	some approval in request.approvals
	roles.maybe_same_person({"id": approval.by}, actor)
}

# --- withdraw: the requester takes a pending request back -------------------------

withdraw_decision := deny("only the requester can withdraw a request") if {
	not roles.same_person(actor, requester)
} else := deny("the request is no longer pending") if {
	not pending
} else := allow("the requester withdraws a pending request") if {
	roles.same_person(actor, requester)
	pending
} else := deny("the request cannot be withdrawn")

# --- revoke: end a grant early ----------------------------------------------------

# Revoking only ever reduces access, so it stays possible even for a role that has
# since been removed from data.json (admins and the holder can still end it).
revoke_decision := allow("the holder ends their own grant") if {
	roles.same_person(actor, requester)
} else := allow("an approver of the role revokes the grant") if {
	roles.member_of(actor, role.approver_groups)
} else := allow("an administrator revokes the grant") if {
	roles.member_of(actor, roles.admin_groups)
} else := deny("only the holder, the role's approvers or administrators can revoke a grant")

# --- review: someone else looks at a break-glass grant after the fact -------------

review_decision := deny("only break-glass grants are reviewed") if {
	not is_break_glass
} else := deny("nobody reviews their own break-glass access") if {
	not reviewer_is_someone_else
} else := deny(concat("", ["only members of ", concat(", ", roles.review_groups), " can review break-glass access"])) if {
	not roles.member_of(actor, roles.review_groups)
} else := allow("the reviewer may review this break-glass grant") if {
	reviewer_is_someone_else
	roles.member_of(actor, roles.review_groups)
} else := deny("the reviewer may not review this grant")

is_break_glass if input.grant.break_glass == true

is_break_glass if role.break_glass == true

reviewer_is_someone_else if {
	is_string(actor.id)
	is_string(requester.id)
	not roles.maybe_same_person(actor, requester)
}

# --- view: who may read a request or a grant (API lists and reads) ----------------

# Who holds which privilege, and why, is itself sensitive: the requester sees their
# own, the role's approvers what they decide on, reviewers and administrators all.
view_decision := allow("the requester sees their own") if {
	roles.same_person(actor, requester)
} else := allow("an approver of the role sees it") if {
	roles.member_of(actor, role.approver_groups)
} else := allow("reviewers and administrators see every request and grant") if {
	sees_everything
} else := deny("only the requester, the role's approvers, reviewers and administrators see this")

sees_everything if roles.member_of(actor, roles.review_groups)

sees_everything if roles.member_of(actor, roles.admin_groups)

# --- audit_read: who may read the audit trail (GET /v1/audit) ----------------------

# This step is about no request and no grant: its input has only the actor. Service
# accounts may hold a reader group too: exporting the trail to a SIEM is a job for one.
audit_read_decision := allow("members of the audit reader groups read the audit trail") if {
	some group in actor.groups
	group in roles.audit_reader_groups
} else := deny(concat("", ["only members of ", concat(", ", roles.audit_reader_groups), " read the audit trail"]))

allow(reason) := {"allow": true, "reason": reason}

deny(reason) := {"allow": false, "reason": reason}
