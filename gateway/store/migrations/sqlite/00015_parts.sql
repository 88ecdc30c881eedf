-- +goose Up
-- parts keeps once the runs of bytes that many rows repeat: the field
-- decisions of released records and audit entries, and the batch signature
-- of release proofs (gateway/store/parts.go). A row that refers to a part
-- keeps its bytes with the part cut out at *_at, and the part's SHA-256 in
-- *_part; rows written before this migration keep their whole bytes.
CREATE TABLE parts (
    hash BLOB PRIMARY KEY,
    body BLOB NOT NULL
) WITHOUT ROWID;
ALTER TABLE outbox ADD COLUMN payload_part BLOB;
ALTER TABLE outbox ADD COLUMN payload_at INTEGER;
ALTER TABLE outbox ADD COLUMN proof_part BLOB;
ALTER TABLE outbox ADD COLUMN proof_at INTEGER;
ALTER TABLE audit ADD COLUMN entry_part BLOB;
ALTER TABLE audit ADD COLUMN entry_at INTEGER;

-- +goose Down
-- Puts every part back into its rows. It refuses, changing nothing, if a
-- row refers to a part that is missing: its bytes could not be put back.
CREATE TEMP TABLE parts_down_check (missing INTEGER CHECK (missing = 0));
INSERT INTO parts_down_check SELECT
      (SELECT count(*) FROM outbox o WHERE o.payload_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = o.payload_part))
    + (SELECT count(*) FROM outbox o WHERE o.proof_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = o.proof_part))
    + (SELECT count(*) FROM audit a WHERE a.entry_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = a.entry_part));
DROP TABLE parts_down_check;
UPDATE outbox SET payload = CAST(substr(payload, 1, payload_at) || (SELECT body FROM parts WHERE hash = payload_part) || substr(payload, payload_at + 1) AS BLOB)
 WHERE payload_at IS NOT NULL;
UPDATE outbox SET proof = CAST(substr(proof, 1, proof_at) || (SELECT body FROM parts WHERE hash = proof_part) || substr(proof, proof_at + 1) AS BLOB)
 WHERE proof_at IS NOT NULL;
UPDATE audit SET entry = CAST(substr(entry, 1, entry_at) || (SELECT body FROM parts WHERE hash = entry_part) || substr(entry, entry_at + 1) AS BLOB)
 WHERE entry_at IS NOT NULL;
ALTER TABLE audit DROP COLUMN entry_at;
ALTER TABLE audit DROP COLUMN entry_part;
ALTER TABLE outbox DROP COLUMN proof_at;
ALTER TABLE outbox DROP COLUMN proof_part;
ALTER TABLE outbox DROP COLUMN payload_at;
ALTER TABLE outbox DROP COLUMN payload_part;
DROP TABLE parts;
