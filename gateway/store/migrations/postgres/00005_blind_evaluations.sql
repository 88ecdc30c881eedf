-- +goose Up
-- blind_evaluations counts the OPRF evaluations each agency asked for
-- (POST /v1/oprf/evaluate), for the per-agency limit, and keeps a digest of
-- each request's blinded elements, so that a replayed request is refused.
-- Blinded elements reveal nothing about the inputs.
CREATE TABLE blind_evaluations (
    digest   TEXT PRIMARY KEY,
    agency   TEXT NOT NULL,
    domain   TEXT NOT NULL,
    elements INTEGER NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX blind_evaluations_agency_at ON blind_evaluations (agency, at);

-- +goose Down
DROP TABLE blind_evaluations;
