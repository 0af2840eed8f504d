-- Meta webhook deliveries already accepted, by SHA-256 of the raw body: Meta retries a
-- delivery for up to 36 h, and a repeat is answered 200 without publishing again.
-- Written after the changes reached Kafka, so a crash in between only re-publishes
-- (same deterministic event ids, so consumers drop the copies).
CREATE SCHEMA IF NOT EXISTS ingest;

CREATE TABLE ingest.webhook_deliveries (
    digest      bytea       PRIMARY KEY CHECK (octet_length(digest) = 32),
    received_at timestamptz NOT NULL DEFAULT now()
);
-- Pruning deletes by age (past the retry window), so it must not scan the table.
CREATE INDEX webhook_deliveries_received_at ON ingest.webhook_deliveries (received_at);
