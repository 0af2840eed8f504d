-- The full lifecycle of a post and the audit of every publisher attempt.
--
-- Every column is a function of the set of `publish.completed` events applied, never of
-- the wall clock or of arrival order, so `jobcast rebuild metrics` reproduces the tables
-- row for row. Hence no now() defaults here (created_at/updated_at are dropped).
ALTER TABLE metrics.job_posts
    ADD COLUMN action               text        NOT NULL DEFAULT 'publish',
    -- The event whose result is the current state, and when it happened: ties of
    -- (status_rank, attempt) are broken by (status_changed_at, status_event_id).
    ADD COLUMN status_event_id      uuid        NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN status_changed_at    timestamptz,
    ADD COLUMN next_attempt_at      timestamptz,
    ADD COLUMN first_seen_at        timestamptz,
    ADD COLUMN requested_at         timestamptz,
    ADD COLUMN scheduled_for        timestamptz,
    ADD COLUMN awaiting_approval_at timestamptz,
    ADD COLUMN held_at              timestamptz,
    ADD COLUMN first_attempt_at     timestamptz,
    ADD COLUMN posted_at            timestamptz,
    ADD COLUMN unconfirmed_at       timestamptz,
    ADD COLUMN failed_at            timestamptz,
    ADD COLUMN cancelled_at         timestamptz,
    ADD COLUMN skipped_at           timestamptz,
    ADD COLUMN edited_at            timestamptz,
    ADD COLUMN deleted_at           timestamptz,
    ADD COLUMN attempt_count        integer     NOT NULL DEFAULT 0;

UPDATE metrics.job_posts
SET status_changed_at = last_event_at,
    first_seen_at = last_event_at,
    posted_at = CASE WHEN status = 'posted' THEN last_event_at END,
    failed_at = CASE WHEN status = 'failed' THEN last_event_at END;

ALTER TABLE metrics.job_posts
    ALTER COLUMN status_changed_at SET NOT NULL,
    ALTER COLUMN first_seen_at SET NOT NULL,
    ALTER COLUMN action DROP DEFAULT,
    ALTER COLUMN status_event_id DROP DEFAULT,
    ALTER COLUMN attempt_count DROP DEFAULT,
    DROP COLUMN created_at,
    DROP COLUMN updated_at;

-- Keyset pagination of GET /v1/posts (newest first) and the analytics windows.
CREATE INDEX job_posts_tenant_seen ON metrics.job_posts (tenant_id, first_seen_at DESC, post_key DESC);
-- Webhook comments name the platform's post id.
CREATE INDEX job_posts_platform_post ON metrics.job_posts (platform_post_id)
    WHERE platform_post_id IS NOT NULL;

-- One row per publisher attempt (every `publish.completed` a publisher emitted: attempt >= 1).
CREATE TABLE metrics.delivery_attempts (
    event_id         uuid        PRIMARY KEY,
    post_key         text        NOT NULL,
    tenant_id        uuid        NOT NULL,
    job_id           text        NOT NULL,
    connection_id    uuid        NOT NULL,
    platform         text        NOT NULL,
    action           text        NOT NULL,
    attempt          integer     NOT NULL,
    outcome          text        NOT NULL,
    error_class      text,
    error_code       integer,
    error_subcode    integer,
    error_message    text,
    http_status      integer,
    latency_ms       integer,
    platform_post_id text,
    permalink        text,
    next_attempt_at  timestamptz,
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX delivery_attempts_post ON metrics.delivery_attempts (post_key, occurred_at);
