# Who may record victim-status decisions, issue, redeem, revoke or read
# status tokens, look a person's status up blind, and ask for blind (OPRF)
# evaluations. The gateway asks; this policy answers. Undefined means no.
#
# Input: {"action": "record" | "issue" | "redeem" | "revoke" | "read" | "lookup" | "oprf_evaluate",
#         "agency": {"id", "type", "domain"},  the caller, from its certificate
#         "audience": {"id", "type"},          issue: the agency the token is for
#         "purpose": "...",                    issue, lookup: the token's purpose
#         "domain": "...",                     oprf_evaluate: the OPRF domain asked for
#         "token": {"issuer", "audience"}}     redeem, revoke, read: the stored token
package tumar.status

import rego.v1

import data.tumar.exchange

# The gateway's domain of blind status look-ups (config.LookupDomain).
lookup_domain := "tumar.lookup"

# Organisations that identify victims and so may record a status.
identifiers := {"NGO", "LawEnforcement", "CentralGovernmentOrganisation", "ImmigrationService", "HealthServiceOrganisation"}

default decision := {"allow": false, "reason": "no status rule allows this"}

decision := {"allow": true, "rule": "status/record/identifying-organisation"} if {
	input.action == "record"
	input.agency.type in identifiers
}

# A token may be issued for an audience and purpose that the exchange rules
# would let the caller send a referral to.
decision := {"allow": true, "rule": sprintf("status/issue/%s", [id])} if {
	input.action == "issue"
	input.agency.type in identifiers
	input.audience.id != input.agency.id
	some id, r in exchange.rules
	r.purpose == input.purpose
	input.agency.type in r.source_types
	input.audience.type in r.destination_types
}

decision := {"allow": true, "rule": "status/redeem/audience-only"} if {
	input.action == "redeem"
	input.agency.id == input.token.audience
}

decision := {"allow": true, "rule": "status/revoke/issuer-only"} if {
	input.action == "revoke"
	input.agency.id == input.token.issuer
}

decision := {"allow": true, "rule": "status/read/issuer-or-audience"} if {
	input.action == "read"
	input.agency.id in {input.token.issuer, input.token.audience}
}

# A blind look-up answers with a token for the caller itself, for a purpose
# the exchange rules would let it send a referral for.
decision := {"allow": true, "rule": sprintf("status/lookup/%s", [id])} if {
	input.action == "lookup"
	input.agency.type in identifiers
	some id, r in exchange.rules
	r.purpose == input.purpose
	input.agency.type in r.source_types
}

# Blind evaluations: in the look-up domain for those who may look up, and in
# an agency's own domain for itself. Every evaluation is counted and limited.
decision := {"allow": true, "rule": "status/oprf/lookup"} if {
	input.action == "oprf_evaluate"
	input.domain == lookup_domain
	input.agency.type in identifiers
}

decision := {"allow": true, "rule": "status/oprf/own-domain"} if {
	input.action == "oprf_evaluate"
	input.domain == input.agency.domain
}
