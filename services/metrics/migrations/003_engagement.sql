-- Engagement: snapshots (history) and the latest per post, materialised from
-- `engagement.events` (rebuildable); the collector's durable schedule; comments counted
-- from Meta's webhooks.

-- Every engagement.collected event, once.
CREATE TABLE metrics.engagement_snapshots (
    event_id           uuid        PRIMARY KEY,
    post_key           text        NOT NULL,
    tenant_id          uuid        NOT NULL,
    job_id             text        NOT NULL,
    connection_id      uuid        NOT NULL,
    platform           text        NOT NULL,
    platform_post_id   text        NOT NULL,
    checkpoint_seconds integer     NOT NULL,
    collected_at       timestamptz NOT NULL,
    views              bigint,
    reach              bigint,
    reactions          bigint,
    likes              bigint,
    comments           bigint,
    shares             bigint,
    clicks             bigint,
    saved              bigint,
    total_interactions bigint
);
CREATE INDEX engagement_snapshots_post ON metrics.engagement_snapshots (post_key, collected_at);

-- The newest snapshot per post (greatest collected_at, then event_id: order-free).
CREATE TABLE metrics.engagement_latest (
    post_key           text        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    job_id             text        NOT NULL,
    connection_id      uuid        NOT NULL,
    platform           text        NOT NULL,
    platform_post_id   text        NOT NULL,
    snapshot_event_id  uuid        NOT NULL,
    checkpoint_seconds integer     NOT NULL,
    collected_at       timestamptz NOT NULL,
    views              bigint,
    reach              bigint,
    reactions          bigint,
    likes              bigint,
    comments           bigint,
    shares             bigint,
    clicks             bigint,
    saved              bigint,
    total_interactions bigint
);
CREATE INDEX engagement_latest_tenant ON metrics.engagement_latest (tenant_id);

-- The collector's timers: one row per post and checkpoint (seconds after posting).
-- Written in the transaction that first sees the post posted; never rebuilt.
CREATE TABLE metrics.engagement_schedule (
    post_key           text        NOT NULL,
    checkpoint_seconds integer     NOT NULL,
    tenant_id          uuid        NOT NULL,
    job_id             text        NOT NULL,
    connection_id      uuid        NOT NULL,
    platform           text        NOT NULL,
    platform_post_id   text        NOT NULL,
    posted_at          timestamptz NOT NULL,
    state              text        NOT NULL DEFAULT 'pending',  -- pending, done, skipped, failed
    tries              integer     NOT NULL DEFAULT 0,
    next_try_at        timestamptz NOT NULL,
    last_error         text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_key, checkpoint_seconds)
);
CREATE INDEX engagement_schedule_due ON metrics.engagement_schedule (next_try_at)
    WHERE state = 'pending';

-- Comments Meta reported by webhook (platform.webhooks), by the platform's ids.
CREATE TABLE metrics.webhook_comments (
    platform         text        NOT NULL,
    comment_id       text        NOT NULL,
    platform_post_id text        NOT NULL,
    removed          boolean     NOT NULL DEFAULT false,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, comment_id)
);
CREATE INDEX webhook_comments_post ON metrics.webhook_comments (platform_post_id)
    WHERE NOT removed;
