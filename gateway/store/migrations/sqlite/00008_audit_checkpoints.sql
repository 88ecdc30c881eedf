-- +goose Up
-- The person of each entry, for access reports (an internal pseudonym).
ALTER TABLE audit ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_subject ON audit (subject) WHERE subject != '';
CREATE INDEX audit_time ON audit (time);

-- checkpoints are signatures over the chain up to an entry. A truncation
-- checkpoint stands for entries removed by retention.
CREATE TABLE checkpoints (
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    signed     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (seq, kind)
);

-- +goose Down
DROP TABLE checkpoints;
DROP INDEX audit_time;
DROP INDEX audit_subject;
ALTER TABLE audit DROP COLUMN subject;
