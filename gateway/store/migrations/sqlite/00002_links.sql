-- +goose Up
-- links maps every internal match-key pseudonym (tumar.internal domain) to
-- the person it belongs to: the gateway links two records when a key matches.
-- It holds pseudonyms only, never an identity.
CREATE TABLE links (
    key    TEXT PRIMARY KEY,
    person TEXT NOT NULL
);
CREATE INDEX links_person ON links (person);

-- +goose Down
DROP TABLE links;
