-- One row per post key: the claim taken before calling the platform, then the outcome.
-- Shared by both publishers (keys never collide: a key includes its connection).
CREATE SCHEMA IF NOT EXISTS publishing;

CREATE TABLE publishing.post_claims (
    post_key      text        PRIMARY KEY,
    platform      text        NOT NULL,
    tenant_id     uuid        NOT NULL,
    connection_id uuid        NOT NULL,
    job_id        text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('claimed', 'done')),
    attempt       integer     NOT NULL DEFAULT 1,
    result_event  jsonb,
    claimed_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
