-- +goose Up
-- parts keeps once the runs of bytes that many rows repeat: the field
-- decisions of released records and audit entries, and the batch signature
-- of release proofs (gateway/store/parts.go). A row that refers to a part
-- keeps its bytes with the part cut out at *_at, and the part's SHA-256 in
-- *_part; rows written before this migration keep their whole bytes.
CREATE TABLE parts (
    hash BYTEA PRIMARY KEY,
    body BYTEA NOT NULL
);
ALTER TABLE outbox ADD COLUMN payload_part BYTEA, ADD COLUMN payload_at INTEGER,
                   ADD COLUMN proof_part BYTEA, ADD COLUMN proof_at INTEGER;
ALTER TABLE audit ADD COLUMN entry_part BYTEA, ADD COLUMN entry_at INTEGER;

-- +goose Down
-- Puts every part back into its rows. It refuses, changing nothing, if a
-- row refers to a part that is missing: its bytes could not be put back.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox o WHERE o.payload_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = o.payload_part))
    OR EXISTS (SELECT 1 FROM outbox o WHERE o.proof_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = o.proof_part))
    OR EXISTS (SELECT 1 FROM audit a WHERE a.entry_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.hash = a.entry_part)) THEN
        RAISE EXCEPTION 'a row refers to a shared part that is missing: its bytes cannot be put back';
    END IF;
END
$$;
-- +goose StatementEnd
UPDATE outbox o SET payload = substring(o.payload from 1 for o.payload_at) || p.body || substring(o.payload from o.payload_at + 1)
  FROM parts p WHERE p.hash = o.payload_part AND o.payload_at IS NOT NULL;
UPDATE outbox o SET proof = substring(o.proof from 1 for o.proof_at) || p.body || substring(o.proof from o.proof_at + 1)
  FROM parts p WHERE p.hash = o.proof_part AND o.proof_at IS NOT NULL;
UPDATE audit a SET entry = substring(a.entry from 1 for a.entry_at) || p.body || substring(a.entry from a.entry_at + 1)
  FROM parts p WHERE p.hash = a.entry_part AND a.entry_at IS NOT NULL;
ALTER TABLE audit DROP COLUMN entry_at, DROP COLUMN entry_part;
ALTER TABLE outbox DROP COLUMN proof_at, DROP COLUMN proof_part, DROP COLUMN payload_at, DROP COLUMN payload_part;
DROP TABLE parts;
