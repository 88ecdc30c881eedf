-- +goose Up
-- statuses holds victim-status decisions against the gateway's internal
-- person id; a later decision supersedes the earlier one, which is kept.
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

-- tokens is the server-side state of every status token, by jti.
CREATE TABLE tokens (
    jti         TEXT PRIMARY KEY,
    person      TEXT NOT NULL,
    status_id   TEXT NOT NULL REFERENCES statuses (id),
    issuer      TEXT NOT NULL,
    audience    TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    state       TEXT NOT NULL,
    changed_at  TEXT
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE statuses;
