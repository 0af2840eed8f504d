-- Connected social accounts. Owned by the distributor; the publishers read the
-- encrypted token of the connection a command names (and nothing else).
CREATE SCHEMA IF NOT EXISTS distributor;

CREATE TABLE distributor.connections (
    connection_id    uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    platform         text        NOT NULL CHECK (platform IN ('facebook', 'instagram')),
    account_id       text        NOT NULL,
    display_name     text        NOT NULL DEFAULT '',
    token_ciphertext bytea       NOT NULL,
    status           text        NOT NULL DEFAULT 'active'
                                 CHECK (status IN ('active', 'needs_reconnect', 'disabled')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, platform, account_id)
);
CREATE INDEX connections_tenant_active ON distributor.connections (tenant_id) WHERE status = 'active';
