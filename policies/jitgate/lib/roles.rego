# Role definitions and group membership, read from data.json.
package jitgate.lib.roles

definitions := data.jitgate.roles

admin_groups := data.jitgate.admin_groups

review_groups := data.jitgate.review_groups

audit_reader_groups := data.jitgate.audit_reader_groups

is_user(subject) if subject.kind == "user"

# Group membership counts only for people: an API key mapped to the group
# "approvers" never makes a service account an approver.
member_of(subject, groups) if {
	is_user(subject)
	some group in subject.groups
	group in groups
}

# The very same subject: what gives a power (withdraw one's request, revoke or see one's
# grant) holds for the id exactly, as the identity provider issued it, and for the same
# kind: an API key whose service subject is "bob" (`jitgate apikey --subject bob`) is not
# bob, and must not see, withdraw or revoke what bob asked for or holds.
same_person(a, b) if {
	is_string(a.id)
	is_string(b.id)
	is_string(a.kind)
	a.kind == b.kind
	a.id == b.id
}

# Possibly the same person: what forbids something (approving or reviewing one's own access)
# also holds for an id that differs only in case or surrounding spaces, so "Alice" or
# "alice " cannot approve alice's request.
maybe_same_person(a, b) if {
	is_string(a.id)
	is_string(b.id)
	lower(trim_space(a.id)) == lower(trim_space(b.id))
}
