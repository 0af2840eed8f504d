-- The read model: one row per job x connection (keyed by post key), built from publish.results.
CREATE SCHEMA IF NOT EXISTS metrics;

CREATE TABLE metrics.job_posts (
    post_key          text        PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    job_id            text        NOT NULL,
    connection_id     uuid        NOT NULL,
    platform          text        NOT NULL,
    status            text        NOT NULL,
    status_rank       smallint    NOT NULL,
    attempt           integer     NOT NULL,
    platform_post_id  text,
    permalink         text,
    error_class       text,
    error_code        integer,
    error_subcode     integer,
    error_message     text,
    last_event_at     timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_posts_tenant_job ON metrics.job_posts (tenant_id, job_id);

-- Events already applied: makes materialisation idempotent under redelivery and replay.
CREATE TABLE metrics.processed_events (
    event_id     uuid        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
