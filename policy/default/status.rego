# Who may record victim-status decisions and issue, redeem, revoke or read
# status tokens. The gateway asks; this policy answers. Undefined means no.
#
# Input: {"action": "record" | "issue" | "redeem" | "revoke" | "read",
#         "agency": {"id", "type"},            the caller, from its certificate
#         "audience": {"id", "type"},          issue: the agency the token is for
#         "purpose": "...",                    issue: the token's purpose
#         "token": {"issuer", "audience"}}     redeem, revoke, read: the stored token
package tumar.status

import rego.v1

import data.tumar.exchange

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
