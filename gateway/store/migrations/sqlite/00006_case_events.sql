-- +goose Up
-- case_events are what the crime register reports back about a referral:
-- registered, re-qualified to another article, discontinued, sent to court.
-- Re-qualification is kept, since it is one way trafficking cases vanish
-- from statistics.
CREATE TABLE case_events (
    event_id         TEXT PRIMARY KEY,
    source           TEXT NOT NULL,
    person           TEXT NOT NULL,
    exchange_id      TEXT NOT NULL,
    register_case_id TEXT NOT NULL,
    kind             TEXT NOT NULL,
    article          TEXT NOT NULL,
    previous_article TEXT NOT NULL,
    event_date       TEXT NOT NULL,
    recorded_at      TEXT NOT NULL
);
CREATE INDEX case_events_person ON case_events (person, event_date);

-- +goose Down
DROP TABLE case_events;
