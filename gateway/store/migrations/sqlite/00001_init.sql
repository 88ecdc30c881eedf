-- +goose Up
-- outbox holds released records until their destination acknowledges them.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    destination TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    decision_id TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    acked_at    TEXT
);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE acked_at IS NULL;

-- audit is the hash-chained decision log; entry is the entry's JSON form.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    decision_id TEXT    NOT NULL,
    time        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    entry       BLOB    NOT NULL,
    hash        BLOB    NOT NULL
);

-- +goose Down
DROP TABLE audit;
DROP TABLE outbox;
