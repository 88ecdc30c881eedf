-- +goose Up
-- pending_links queues the person links written since the links database
-- (tumar-links.db beside this file) was last brought up to date: one row
-- per audit entry that linked new keys (seq is the entry's), its person and
-- its keys, newline-separated. A release appends one row here, at the end
-- of the table, instead of one random-position insert per key into links;
-- the gateway moves the rows into the links database in key order and then
-- deletes them, and opening the store moves whatever a crash left. The
-- links table below is no longer written: the first open moves its rows
-- into the links database (gateway/store/sqlite_links.go).
CREATE TABLE pending_links (
    seq    INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    keys   TEXT NOT NULL
);

-- +goose Down
-- Puts the queued links back into links. The links database is not copied
-- back: before a downgrade, copy its links table into this one.
INSERT INTO links (key, person)
    SELECT j.value, p.person FROM pending_links p, json_each('["' || replace(p.keys, char(10), '","') || '"]') j
    WHERE true ON CONFLICT (key) DO NOTHING;
DROP TABLE pending_links;
