package tumar.status_test

import rego.v1

import data.tumar.status

ngo := {"id": "ngo-sezim", "type": "NGO", "domain": "ngo-sezim"}

health := {"id": "health-bishkek", "type": "HealthServiceOrganisation"}

school := {"id": "school-1", "type": "SchoolOrCollege", "domain": "school-1"}

consulate := {"id": "consulate-moscow", "type": "CentralGovernmentOrganisation", "domain": "consulate-moscow"}

test_ngo_records if {
	status.decision.allow with input as {"action": "record", "agency": ngo}
}

test_school_does_not_record if {
	not status.decision.allow with input as {"action": "record", "agency": school}
}

test_issue_follows_the_exchange_rules if {
	d := status.decision with input as {"action": "issue", "agency": ngo, "audience": health, "purpose": "support-services"}
	d.allow
	d.rule == "status/issue/support-services"
}

test_issue_for_a_purpose_the_audience_may_not_receive if {
	not status.decision.allow with input as {"action": "issue", "agency": ngo, "audience": health, "purpose": "criminal-referral"}
}

test_only_the_audience_redeems if {
	tok := {"issuer": "ngo-sezim", "audience": "health-bishkek"}
	status.decision.allow with input as {"action": "redeem", "agency": health, "token": tok}
	not status.decision.allow with input as {"action": "redeem", "agency": ngo, "token": tok}
}

test_only_the_issuer_revokes if {
	tok := {"issuer": "ngo-sezim", "audience": "health-bishkek"}
	status.decision.allow with input as {"action": "revoke", "agency": ngo, "token": tok}
	not status.decision.allow with input as {"action": "revoke", "agency": health, "token": tok}
}

test_unknown_action_denied if {
	not status.decision.allow with input as {"action": "delete", "agency": ngo}
}

test_consulate_looks_up_for_its_own_purposes if {
	d := status.decision with input as {"action": "lookup", "agency": consulate, "purpose": "consular-assistance"}
	d.allow
	d.rule == "status/lookup/consular-assistance"
}

test_lookup_for_a_purpose_the_caller_may_not_send_for if {
	not status.decision.allow with input as {"action": "lookup", "agency": health, "purpose": "consular-assistance"}
}

test_school_does_not_look_up if {
	not status.decision.allow with input as {"action": "lookup", "agency": school, "purpose": "support-services"}
}

test_oprf_in_the_lookup_domain if {
	d := status.decision with input as {"action": "oprf_evaluate", "agency": ngo, "domain": "tumar.lookup"}
	d.allow
	d.rule == "status/oprf/lookup"
	not status.decision.allow with input as {"action": "oprf_evaluate", "agency": school, "domain": "tumar.lookup"}
}

test_oprf_in_own_domain_only if {
	d := status.decision with input as {"action": "oprf_evaluate", "agency": school, "domain": "school-1"}
	d.rule == "status/oprf/own-domain"
	not status.decision.allow with input as {"action": "oprf_evaluate", "agency": ngo, "domain": "school-1"}
	not status.decision.allow with input as {"action": "oprf_evaluate", "agency": ngo, "domain": "tumar.internal"}
}
