# Tumar's default release policy.
#
# For one exchange (a source agency sends one record to a destination agency
# for a purpose under a legal basis) it decides, for every field of the record,
# one action and the rule that chose it:
#
#   keep          the value leaves as it is
#   pseudonymise  the value is replaced by a keyed pseudonym in the destination's domain
#   generalise    birth date to year, age to a band, address to region
#   redact        the field does not leave
#
# Fields arrive as {"name", "class", "kind", "generalization"}; the classes come
# from Tumar's HTCDS catalogue (direct_identifier, quasi_identifier, sensitive,
# operational). When no exchange rule matches, or a field has no action, the
# whole exchange is denied.
package tumar.exchange

import rego.v1

# Exchange rules. An action is chosen for a field by, in order: the rule's
# `fields` (by HTCDS name), its `kinds` (by value kind), its `classes`.
rules := {
	"criminal-referral": {
		"purpose": "criminal-referral",
		"source_types": {"NGO", "HealthServiceOrganisation", "LocalGovernmentOrganisation", "CentralGovernmentOrganisation", "ImmigrationService"},
		"destination_types": {"LawEnforcement"},
		"legal_bases": {"kg-law-trafficking-in-persons", "victim-consent"},
		"classes": {
			"direct_identifier": "pseudonymise",
			"quasi_identifier": "generalise",
			"sensitive": "keep",
			"operational": "keep",
		},
		"kinds": {"free_text": "redact", "country": "keep", "country_list": "keep"},
		"fields": {},
	},
	"prosecution-court-order": {
		"purpose": "prosecution",
		"source_types": {"NGO", "HealthServiceOrganisation", "LocalGovernmentOrganisation", "CentralGovernmentOrganisation", "ImmigrationService", "LawEnforcement"},
		"destination_types": {"LawEnforcement"},
		"legal_bases": {"court-order"},
		"classes": {
			"direct_identifier": "keep",
			"quasi_identifier": "keep",
			"sensitive": "keep",
			"operational": "keep",
		},
		"kinds": {"free_text": "redact"},
		"fields": {},
	},
	"consular-assistance": {
		"purpose": "consular-assistance",
		"source_types": {"NGO", "LawEnforcement", "CentralGovernmentOrganisation"},
		"destination_types": {"CentralGovernmentOrganisation"},
		"legal_bases": {"victim-consent", "kg-law-consular-service"},
		"classes": {
			"direct_identifier": "pseudonymise",
			"quasi_identifier": "generalise",
			"sensitive": "redact",
			"operational": "keep",
		},
		"kinds": {"free_text": "redact", "country": "keep", "country_list": "keep"},
		"fields": {
			"prs_Gender": "keep",
			"prs_PrimaryLanguage": "keep",
			"vic_TraffickingStatus": "keep",
			"vic_TypeOfExploitation": "keep",
			"prs_MailingStreet": "redact",
			"prs_MailingLatitude": "redact",
			"prs_MailingLongitude": "redact",
		},
	},
	"support-services": {
		"purpose": "support-services",
		"source_types": {"NGO", "LawEnforcement", "CentralGovernmentOrganisation", "LocalGovernmentOrganisation"},
		"destination_types": {"HealthServiceOrganisation", "NGO", "LocalGovernmentOrganisation", "SchoolOrCollege", "LegalService"},
		"legal_bases": {"victim-consent"},
		"classes": {
			"direct_identifier": "pseudonymise",
			"quasi_identifier": "generalise",
			"sensitive": "keep",
			"operational": "keep",
		},
		"kinds": {"free_text": "redact"},
		"fields": {"per_Organisation": "redact"},
	},
}

actions := {"keep", "pseudonymise", "generalise", "redact"}

# matching holds the ids of the rules that allow this exchange.
matching contains id if {
	some id, r in rules
	r.purpose == input.purpose
	input.source.type in r.source_types
	input.destination.type in r.destination_types
	input.legal_basis in r.legal_bases
	input.source.id != input.destination.id
}

# field_action is the action for one field under rule id, with the rule path
# that decided it. generalise on a field that cannot be generalised becomes redact.
field_action(id, f) := {"action": a, "rule": sprintf("%s/field/%s", [id, f.name])} if {
	a := rules[id].fields[f.name]
} else := {"action": a, "rule": sprintf("%s/kind/%s", [id, f.kind])} if {
	a := rules[id].kinds[f.kind]
} else := {"action": "redact", "rule": sprintf("%s/class/%s/not-generalisable", [id, f.class])} if {
	rules[id].classes[f.class] == "generalise"
	f.generalization == "none"
} else := {"action": a, "rule": sprintf("%s/class/%s", [id, f.class])} if {
	a := rules[id].classes[f.class]
}

default decision := {"allow": false, "reasons": ["no exchange rule allows this source, destination, purpose and legal basis"]}

decision := {"allow": true, "rule": id, "fields": fields} if {
	count(matching) == 1
	some id in matching
	fields := {f.name: d |
		some f in input.fields
		d := field_action(id, f)
		d.action in actions
	}
	count(fields) == count(input.fields)
}

decision := {"allow": false, "reasons": ["more than one exchange rule matches: the policy is ambiguous"]} if {
	count(matching) > 1
}

decision := {"allow": false, "reasons": [sprintf("no action for field %s", [f.name]) |
	some f in input.fields
	not valid_action(id, f)
]} if {
	count(matching) == 1
	some id in matching
	some f in input.fields
	not valid_action(id, f)
}

valid_action(id, f) if field_action(id, f).action in actions
