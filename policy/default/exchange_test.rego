package tumar.exchange_test

import rego.v1

import data.tumar.exchange

ngo := {"id": "ngo-bishkek", "type": "NGO"}

police := {"id": "errp", "type": "LawEnforcement"}

consulate := {"id": "consulate-moscow", "type": "CentralGovernmentOrganisation"}

first_name := {"name": "prs_FirstName", "class": "direct_identifier", "kind": "text", "generalization": "none"}

birthdate := {"name": "prs_Birthdate", "class": "quasi_identifier", "kind": "date", "generalization": "year"}

gender := {"name": "prs_Gender", "class": "quasi_identifier", "kind": "picklist", "generalization": "none"}

control := {"name": "vic_MethodsOfControl", "class": "sensitive", "kind": "multi_picklist", "generalization": "none"}

status := {"name": "vic_TraffickingStatus", "class": "sensitive", "kind": "picklist", "generalization": "none"}

comment := {"name": "cco_CaseComment", "class": "direct_identifier", "kind": "free_text", "generalization": "none"}

case_status := {"name": "cas_Status", "class": "operational", "kind": "picklist", "generalization": "none"}

referral(dest, purpose, basis) := {
	"source": ngo,
	"destination": dest,
	"purpose": purpose,
	"legal_basis": basis,
	"fields": [first_name, birthdate, gender, control, status, comment, case_status],
}

test_criminal_referral_actions if {
	d := exchange.decision with input as referral(police, "criminal-referral", "kg-law-trafficking-in-persons")
	d.allow
	d.rule == "criminal-referral"
	d.fields.prs_FirstName == {"action": "pseudonymise", "rule": "criminal-referral/class/direct_identifier"}
	d.fields.prs_Birthdate == {"action": "generalise", "rule": "criminal-referral/class/quasi_identifier"}
	d.fields.prs_Gender == {"action": "redact", "rule": "criminal-referral/class/quasi_identifier/not-generalisable"}
	d.fields.vic_MethodsOfControl.action == "keep"
	d.fields.cco_CaseComment == {"action": "redact", "rule": "criminal-referral/kind/free_text"}
	d.fields.cas_Status.action == "keep"
}

test_consular_assistance_field_overrides if {
	d := exchange.decision with input as referral(consulate, "consular-assistance", "victim-consent")
	d.allow
	d.fields.prs_FirstName.action == "pseudonymise"
	d.fields.prs_Birthdate.action == "generalise"
	d.fields.prs_Gender == {"action": "keep", "rule": "consular-assistance/field/prs_Gender"}
	d.fields.vic_MethodsOfControl.action == "redact"
	d.fields.vic_TraffickingStatus == {"action": "keep", "rule": "consular-assistance/field/vic_TraffickingStatus"}
}

test_court_order_releases_identity if {
	d := exchange.decision with input as referral(police, "prosecution", "court-order")
	d.allow
	d.fields.prs_FirstName.action == "keep"
	d.fields.cco_CaseComment.action == "redact"
}

test_unknown_purpose_denied if {
	d := exchange.decision with input as referral(police, "marketing", "victim-consent")
	not d.allow
	count(d.reasons) > 0
}

test_wrong_legal_basis_denied if {
	d := exchange.decision with input as referral(police, "prosecution", "victim-consent")
	not d.allow
}

test_wrong_destination_type_denied if {
	d := exchange.decision with input as referral(consulate, "criminal-referral", "kg-law-trafficking-in-persons")
	not d.allow
}

test_unknown_class_denies_whole_exchange if {
	odd := {"name": "x_Odd", "class": "unclassified", "kind": "text", "generalization": "none"}
	inp := object.union(referral(police, "criminal-referral", "kg-law-trafficking-in-persons"), {"fields": [first_name, odd]})
	d := exchange.decision with input as inp
	not d.allow
	d.reasons == ["no action for field x_Odd"]
}

test_sending_to_self_denied if {
	inp := object.union(referral(police, "support-services", "victim-consent"), {"source": {"id": "errp", "type": "LawEnforcement"}, "destination": {"id": "errp", "type": "NGO"}})
	d := exchange.decision with input as inp
	not d.allow
}

test_every_action_is_known if {
	every _, r in exchange.rules {
		every _, a in r.classes {
			a in exchange.actions
		}
		every _, a in r.kinds {
			a in exchange.actions
		}
		every _, a in r.fields {
			a in exchange.actions
		}
	}
}
