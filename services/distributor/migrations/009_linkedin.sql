-- LinkedIn connections keep a refresh token beside the access token (encrypted like it):
-- the access token lives 60 days and is refreshed with it; the refresh token lives 365
-- days from the member's consent and is not extended by refreshing.
ALTER TABLE distributor.connections
    ADD COLUMN refresh_token_ciphertext bytea,
    ADD COLUMN refresh_token_expires_at timestamptz;

-- A LinkedIn consent whose member administers several organizations waits here until the
-- tenant chooses the one to connect (single use, short-lived, tokens encrypted).
CREATE TABLE distributor.linkedin_grants (
    grant_id                 uuid        PRIMARY KEY,
    tenant_id                uuid        NOT NULL,
    token_ciphertext         bytea       NOT NULL,
    token_expires_at         timestamptz NOT NULL,
    refresh_token_ciphertext bytea,
    refresh_token_expires_at timestamptz,
    token_scopes             text[]      NOT NULL DEFAULT '{}',
    organizations            jsonb       NOT NULL,
    expires_at               timestamptz NOT NULL
);
