-- +goose Up
-- submissions makes a source's record idempotent per destination and
-- purpose: the same content again is a no-op, changed content a new version.
-- content_hash is a keyed hash (tumar.internal), not a plain digest.
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

-- quarantine keeps source records a connector could not bring in, sealed
-- (they hold identities), with their position and the reason.
CREATE TABLE quarantine (
    id               TEXT PRIMARY KEY,
    connector        TEXT NOT NULL,
    position         TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    reason           TEXT NOT NULL,
    sealed           BLOB NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX quarantine_connector ON quarantine (connector, created_at);

-- +goose Down
DROP TABLE quarantine;
DROP TABLE submissions;
