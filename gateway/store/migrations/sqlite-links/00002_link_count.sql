-- +goose Up
-- link_count counts the rows of links. Every move adds what it inserted,
-- in its own transaction, so a process can tell whether another process
-- (a `tumar connector run` beside the server) has moved links into this
-- file since it filled its filter of linked keys
-- (gateway/store/sqlite_links.go).
CREATE TABLE link_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO link_count (id, n) SELECT 1, count(*) FROM links;

-- +goose Down
DROP TABLE link_count;
