-- +goose Up
-- cursors remember where a connector's last complete run ended (Primero's
-- changed-since time, say).
CREATE TABLE cursors (
    connector TEXT PRIMARY KEY,
    value     TEXT NOT NULL
);

-- +goose Down
DROP TABLE cursors;
