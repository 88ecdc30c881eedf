-- +goose Up
-- bundles records every consular bundle imported: a bundle imported twice
-- is a no-op, and a sequence number cannot be reused by another bundle.
CREATE TABLE bundles (
    consulate   TEXT    NOT NULL,
    sequence    INTEGER NOT NULL,
    bundle_id   TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    imported_at TEXT    NOT NULL,
    PRIMARY KEY (consulate, sequence)
);

-- +goose Down
DROP TABLE bundles;
