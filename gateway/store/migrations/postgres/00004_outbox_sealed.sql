-- +goose Up
-- sealed marks a payload that is an envelope to its recipient's key
-- (crypto/envelope): the store cannot read it.
ALTER TABLE outbox ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE outbox DROP COLUMN sealed;
