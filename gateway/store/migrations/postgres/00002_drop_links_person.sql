-- +goose Up
-- Nothing looks links up by person; the index only cost every release a
-- random write.
DROP INDEX IF EXISTS links_person;

-- +goose Down
CREATE INDEX links_person ON links (person);
