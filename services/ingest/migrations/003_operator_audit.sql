-- Who issued which operator command, for what, and why. A row is written before the
-- command goes to `operator.commands` and stamped `published_at` once Kafka has it, so
-- an attempt that never reached the log still shows (with published_at NULL).
CREATE SCHEMA IF NOT EXISTS ingest;

CREATE TABLE ingest.operator_audit (
    event_id     uuid        PRIMARY KEY,  -- the command event's id (= its correlation id)
    tenant_id    uuid        NOT NULL,
    actor        text        NOT NULL,     -- "api-key:<prefix>" or "cli:<user>@<host>"
    action       text        NOT NULL,
    target       text        NOT NULL,     -- "post:<key>", "job:<id>", "platform:<p>", "tenant"
    reason       text        NOT NULL DEFAULT '',
    issued_at    timestamptz NOT NULL,
    published_at timestamptz
);
-- The audit is read newest first, a page at a time, per tenant.
CREATE INDEX operator_audit_by_tenant
    ON ingest.operator_audit (tenant_id, issued_at DESC, event_id DESC);
