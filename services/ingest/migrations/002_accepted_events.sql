-- Event ids accepted at the front door, per tenant: a resent event is answered
-- "duplicate" and not published again. Written after the event reached Kafka, so a
-- crash in between can only re-publish (harmless: every consumer is idempotent).
CREATE SCHEMA IF NOT EXISTS ingest;

CREATE TABLE ingest.accepted_events (
    tenant_id   uuid        NOT NULL,
    event_id    uuid        NOT NULL,
    job_id      text        NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
