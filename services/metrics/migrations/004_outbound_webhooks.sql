-- Outbound lifecycle webhooks: one endpoint per tenant, and a durable outbox of deliveries.

CREATE TABLE metrics.webhook_endpoints (
    tenant_id         uuid        PRIMARY KEY,
    url               text        NOT NULL,
    -- The signing secret, encrypted like platform tokens (JOBCAST_SECRET_KEY); shown once.
    secret_ciphertext bytea       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Written in the transaction of the change it reports (an outbox): nothing is announced
-- that did not commit, nothing that committed is forgotten.
CREATE TABLE metrics.webhook_deliveries (
    delivery_id     uuid        PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    event_type      text        NOT NULL,
    post_key        text        NOT NULL,
    body            text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',  -- pending, delivered, dead
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON metrics.webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_tenant ON metrics.webhook_deliveries (tenant_id, state, created_at);
