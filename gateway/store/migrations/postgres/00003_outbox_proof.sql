-- +goose Up
-- proof is the released record's batch signature with its inclusion proof
-- (crypto/batchsig), as served with the record.
ALTER TABLE outbox ADD COLUMN proof BYTEA;

-- +goose Down
ALTER TABLE outbox DROP COLUMN proof;
