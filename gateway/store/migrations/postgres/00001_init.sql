-- +goose Up
-- The whole schema for PostgreSQL; it matches SQLite's migrations 1 to 8.
-- Times are fixed-width UTC text, as in SQLite, so that one set of
-- statements serves both.
CREATE TABLE outbox (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT  NOT NULL UNIQUE,
    destination   TEXT  NOT NULL,
    source        TEXT  NOT NULL,
    purpose       TEXT  NOT NULL,
    decision_id   TEXT  NOT NULL,
    created_at    TEXT  NOT NULL,
    payload       BYTEA NOT NULL,
    acked_at      TEXT,
    claimed_by    TEXT,
    claimed_until TEXT
);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE acked_at IS NULL;

CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY,
    decision_id TEXT   NOT NULL,
    time        TEXT   NOT NULL,
    source      TEXT   NOT NULL,
    destination TEXT   NOT NULL,
    purpose     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    entry       BYTEA  NOT NULL,
    hash        BYTEA  NOT NULL,
    subject     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_subject ON audit (subject) WHERE subject != '';
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_decision ON audit (decision_id);

CREATE TABLE links (
    key    TEXT PRIMARY KEY,
    person TEXT NOT NULL
);
CREATE INDEX links_person ON links (person);

CREATE TABLE statuses (
    id            TEXT PRIMARY KEY,
    person        TEXT NOT NULL,
    status        TEXT NOT NULL,
    decision_org  TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    superseded_by TEXT
);
CREATE INDEX statuses_current ON statuses (person) WHERE superseded_by IS NULL;

CREATE TABLE tokens (
    jti        TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    status_id  TEXT NOT NULL REFERENCES statuses (id),
    issuer     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state      TEXT NOT NULL,
    changed_at TEXT
);

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

CREATE TABLE quarantine (
    id               TEXT  PRIMARY KEY,
    connector        TEXT  NOT NULL,
    position         TEXT  NOT NULL,
    source_record_id TEXT  NOT NULL,
    reason           TEXT  NOT NULL,
    sealed           BYTEA NOT NULL,
    created_at       TEXT  NOT NULL
);
CREATE INDEX quarantine_connector ON quarantine (connector, created_at);

CREATE TABLE bundles (
    consulate   TEXT   NOT NULL,
    sequence    BIGINT NOT NULL,
    bundle_id   TEXT   NOT NULL,
    digest      TEXT   NOT NULL,
    imported_at TEXT   NOT NULL,
    PRIMARY KEY (consulate, sequence)
);

CREATE TABLE case_events (
    event_id         TEXT PRIMARY KEY,
    source           TEXT NOT NULL,
    person           TEXT NOT NULL,
    exchange_id      TEXT NOT NULL,
    register_case_id TEXT NOT NULL,
    kind             TEXT NOT NULL,
    article          TEXT NOT NULL,
    previous_article TEXT NOT NULL,
    event_date       TEXT NOT NULL,
    recorded_at      TEXT NOT NULL
);
CREATE INDEX case_events_person ON case_events (person, event_date);

CREATE TABLE cursors (
    connector TEXT PRIMARY KEY,
    value     TEXT NOT NULL
);

CREATE TABLE checkpoints (
    seq        BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    hash       BYTEA  NOT NULL,
    signed     TEXT   NOT NULL,
    created_at TEXT   NOT NULL,
    PRIMARY KEY (seq, kind)
);

-- +goose Down
DROP TABLE checkpoints, cursors, case_events, bundles, quarantine, submissions, tokens, statuses, links, audit, outbox;
