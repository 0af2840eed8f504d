-- Connection health (periodic debug_token checks), removal, and single-use OAuth states.

ALTER TABLE distributor.connections
    ADD COLUMN token_expires_at  timestamptz,   -- NULL: the token does not expire on a clock
    ADD COLUMN last_verified_at  timestamptz,
    ADD COLUMN last_verify_error text NOT NULL DEFAULT '',
    ADD COLUMN expiry_warned_for timestamptz;   -- the expiry already warned about (once each)

-- 'removed': the tenant disconnected the account; the token is erased, the row stays so
-- in-flight commands still resolve. The allowed values are extended in place rather than
-- restated, so values other migrations add to this constraint are kept.
DO $$
DECLARE
    definition text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO definition
      FROM pg_constraint
     WHERE conrelid = 'distributor.connections'::regclass
       AND conname = 'connections_status_check';
    IF definition IS NULL THEN
        ALTER TABLE distributor.connections ADD CONSTRAINT connections_status_check
            CHECK (status IN ('active', 'needs_reconnect', 'disabled', 'removed'));
    ELSIF position('''removed''' IN definition) = 0 THEN
        ALTER TABLE distributor.connections DROP CONSTRAINT connections_status_check;
        EXECUTE 'ALTER TABLE distributor.connections ADD CONSTRAINT connections_status_check '
            || replace(definition, 'ARRAY[', 'ARRAY[''removed''::text, ');
    END IF;
END $$;

CREATE INDEX connections_verify_due ON distributor.connections (last_verified_at NULLS FIRST)
    WHERE status <> 'removed';

-- Nonces of OAuth states already redeemed: a state is good for one callback only.
-- Rows are useless once the state itself has expired, and are pruned after that.
CREATE TABLE distributor.oauth_nonces (
    nonce       text        PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_nonces_expiry ON distributor.oauth_nonces (expires_at);
