-- +goose Up
-- links maps each match key (a keyed pseudonym) to the person it was first
-- linked to. It lives in a database file of its own, written by its own
-- connection behind the audit log (gateway/store/sqlite_links.go).
CREATE TABLE links (
    key    TEXT PRIMARY KEY,
    person TEXT NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE links;
