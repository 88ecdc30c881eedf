-- +goose Up
-- A source record's submission (its version and keyed content hash) is kept
-- in the outbox row of the release it made, as on SQLite (its migration
-- 00017 says why). The migration refuses, changing nothing, if a
-- submission has no release in the outbox: it would be lost.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM submissions s WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = s.exchange_id)) THEN
        RAISE EXCEPTION 'a submission has no release in the outbox: it cannot be moved there';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE outbox ADD COLUMN source_record_id TEXT, ADD COLUMN version INTEGER, ADD COLUMN content_hash TEXT;
UPDATE outbox o SET source_record_id = s.source_record_id, version = s.version, content_hash = s.content_hash
    FROM submissions s WHERE s.exchange_id = o.id;
CREATE UNIQUE INDEX outbox_submissions ON outbox (source, source_record_id, destination, purpose, version)
    WHERE source_record_id IS NOT NULL;
DROP TABLE submissions;

-- +goose Down
CREATE TABLE submissions (
    source           TEXT    NOT NULL,
    source_record_id TEXT    NOT NULL,
    destination      TEXT    NOT NULL,
    purpose          TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    content_hash     TEXT    NOT NULL,
    exchange_id      TEXT    NOT NULL,
    decision_id      TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    PRIMARY KEY (source, source_record_id, destination, purpose, version)
);
INSERT INTO submissions (source, source_record_id, destination, purpose, version, content_hash, exchange_id, decision_id, created_at)
    SELECT source, source_record_id, destination, purpose, version, content_hash, id, decision_id, created_at
    FROM outbox WHERE source_record_id IS NOT NULL;
DROP INDEX outbox_submissions;
ALTER TABLE outbox DROP COLUMN content_hash, DROP COLUMN version, DROP COLUMN source_record_id;
