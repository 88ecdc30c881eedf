-- +goose Up
-- A source record's submission (its version and keyed content hash) is kept
-- in the outbox row of the release it made, not in a table of its own: the
-- submissions row repeated six of that row's columns, and writing it was a
-- fourth row a release of a bulk load paid for on the writer. The unique
-- index keeps what the table's primary key kept. Outbox rows are never
-- deleted; a purge of delivered records would have to keep these columns,
-- or a record sent again would be released again. The migration refuses,
-- changing nothing, if a submission has no release in the outbox, which
-- the gateway never writes: it would be lost.
CREATE TEMP TABLE submissions_fold_check (orphans INTEGER CHECK (orphans = 0));
INSERT INTO submissions_fold_check
    SELECT count(*) FROM submissions s WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = s.exchange_id);
DROP TABLE submissions_fold_check;
ALTER TABLE outbox ADD COLUMN source_record_id TEXT;
ALTER TABLE outbox ADD COLUMN version INTEGER;
ALTER TABLE outbox ADD COLUMN content_hash TEXT;
UPDATE outbox SET source_record_id = s.source_record_id, version = s.version, content_hash = s.content_hash
    FROM submissions s WHERE s.exchange_id = outbox.id;
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
ALTER TABLE outbox DROP COLUMN content_hash;
ALTER TABLE outbox DROP COLUMN version;
ALTER TABLE outbox DROP COLUMN source_record_id;
