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

# Ids are compared case-insensitively so that "Alice" cannot approve alice's request.
same_person(a, b) if {
	is_string(a.id)
	is_string(b.id)
	lower(a.id) == lower(b.id)
}
