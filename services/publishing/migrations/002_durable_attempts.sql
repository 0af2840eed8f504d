-- Claims become a durable state machine: the command is kept so retries and
-- confirmations can run from a timer (no Kafka record has to wait for them), a
-- lease marks who works on a key now, and progress keeps what exists on the
-- platform mid-flight (an Instagram container id) for reconciliation.
ALTER TABLE publishing.post_claims DROP CONSTRAINT post_claims_state_check;
UPDATE publishing.post_claims SET state = 'in_progress' WHERE state = 'claimed';
ALTER TABLE publishing.post_claims
    ADD CONSTRAINT post_claims_state_check
        CHECK (state IN ('in_progress', 'retry_scheduled', 'unconfirmed', 'done')),
    ADD COLUMN command_event     jsonb,
    ADD COLUMN correlation_id    text,
    ADD COLUMN lease_until       timestamptz,
    ADD COLUMN next_attempt_at   timestamptz,
    ADD COLUMN confirm_checks    integer NOT NULL DEFAULT 0,
    ADD COLUMN progress          jsonb   NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN platform_post_id  text;

-- What the timer loop scans: due retries and confirmations, and abandoned leases.
CREATE INDEX post_claims_due ON publishing.post_claims (platform, next_attempt_at)
    WHERE state IN ('retry_scheduled', 'unconfirmed');
CREATE INDEX post_claims_leases ON publishing.post_claims (platform, lease_until)
    WHERE state = 'in_progress';
