# Tumar gateway: pseudonyms, signatures and sealing through transit, nothing else.
# Written by 'tumar vault setup'. It must never grant sys/audit-hash.

path "transit/hmac/tumar-pseudonym-*" {
  capabilities = ["update"]
}

path "transit/sign/tumar-sign-*" {
  capabilities = ["update"]
}

path "transit/encrypt/tumar-seal-*" {
  capabilities = ["update"]
}

path "transit/decrypt/tumar-seal-*" {
  capabilities = ["update"]
}

path "transit/keys/tumar-*" {
  capabilities = ["read"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
