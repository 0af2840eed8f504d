-- Tenants and their API keys: shared by every service that authenticates a tenant.
CREATE SCHEMA IF NOT EXISTS tenancy;

CREATE TABLE tenancy.tenants (
    tenant_id  uuid        PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as SHA-256 digests: they are 256-bit random, so no slow hash is needed.
CREATE TABLE tenancy.api_keys (
    key_hash   bytea       PRIMARY KEY,
    key_prefix text        NOT NULL,
    tenant_id  uuid        NOT NULL REFERENCES tenancy.tenants (tenant_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON tenancy.api_keys (tenant_id);
