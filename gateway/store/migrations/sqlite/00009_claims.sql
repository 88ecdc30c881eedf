-- +goose Up
-- Deliveries claim outbox rows for a while, so that two delivering
-- processes never send the same record, and a process that dies lets go.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;

-- +goose Down
ALTER TABLE outbox DROP COLUMN claimed_until;
ALTER TABLE outbox DROP COLUMN claimed_by;
