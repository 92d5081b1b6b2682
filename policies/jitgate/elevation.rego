# Entrypoint jitgate/elevation: evaluated for every step of the elevation workflow
# (request, approve, deny, withdraw, revoke, extend, review), for every request or
# grant the control API shows (view), and for reading the audit trail (audit_read).
#
# The gateway evaluates this whole package and reads it as the decision, so it holds
# only the result fields. The rules live in jitgate.lib.workflow; the role settings
# come from data.json. See docs/policies.md.
package jitgate.elevation

import data.jitgate.lib.workflow

default allow := false

allow if workflow.decision.allow == true

default reason := "no elevation rule matched"

reason := workflow.decision.reason

# The role's settings, for every action on a known role. The workflow fixes who approves
# and how many (approvals_required, approver_groups) on the request when it is made, but a
# higher approvals_required at an approval applies to the request still waiting; what
# the request carries (duration, reason, ticket, extensions) must also still meet them at
# each approval (request_within_settings below, and the workflow's own check).
max_duration_seconds := workflow.role.max_duration_seconds

approvals_required := workflow.role.approvals_required

approver_groups := workflow.role.approver_groups

auto_approve := workflow.role.auto_approve

break_glass := workflow.role.break_glass

require_reason := workflow.role.require_reason

require_ticket := workflow.role.require_ticket

step_up := workflow.role.step_up

max_extensions := workflow.role.max_extensions

# Unlike the settings above, judged by the policy in force at the approval: false when the
# requester, with the groups stored on the request, may no longer hold the role (the role's
# eligible groups changed since they asked). The workflow then refuses the approval.
requester_eligible := workflow.requester_still_eligible if input.action == "approve"

# Judged at the approval too: false when the request as stored (duration, reason, ticket, or for
# an extension the grant's extension count) no longer meets the role's rules in this policy (they
# tightened since it was made). The workflow then refuses the approval; the request stays pending.
request_within_settings := workflow.request_within_settings if input.action == "approve"
