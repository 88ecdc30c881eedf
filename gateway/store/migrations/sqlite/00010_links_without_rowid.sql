-- +goose Up
-- links is looked up and written by key only: keep it as one B-tree ordered
-- by key (WITHOUT ROWID), and drop the unused index on person. Every release
-- writes a few random keys here, so each B-tree less is fewer pages written.
CREATE TABLE links_by_key (
    key    TEXT PRIMARY KEY,
    person TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO links_by_key (key, person) SELECT key, person FROM links;
DROP TABLE links;
ALTER TABLE links_by_key RENAME TO links;

-- +goose Down
CREATE TABLE links_with_rowid (
    key    TEXT PRIMARY KEY,
    person TEXT NOT NULL
);
INSERT INTO links_with_rowid (key, person) SELECT key, person FROM links;
DROP TABLE links;
ALTER TABLE links_with_rowid RENAME TO links;
CREATE INDEX links_person ON links (person);
