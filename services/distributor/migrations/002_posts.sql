-- The distributor's plan: what it knows of each job, and every post it will send (or has
-- sent) to a publisher. Rows are written before anything is emitted, so a crash can only
-- cause a re-send, which publishers deduplicate on the post key.
CREATE TABLE distributor.jobs (
    tenant_id  uuid        NOT NULL,
    job_id     text        NOT NULL,
    revision   integer     NOT NULL,
    closed_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, job_id)
);

CREATE TABLE distributor.posts (
    post_key       text        PRIMARY KEY,
    seq            bigserial   NOT NULL,  -- release order among equal due times
    tenant_id      uuid        NOT NULL,
    job_id         text        NOT NULL,
    connection_id  uuid        NOT NULL,
    platform       text        NOT NULL,
    action         text        NOT NULL CHECK (action IN ('publish', 'edit', 'delete')),
    revision       integer     NOT NULL,
    state          text        NOT NULL
                   CHECK (state IN ('scheduled', 'awaiting_approval', 'held', 'sent', 'cancelled')),
    due_at         timestamptz NOT NULL,
    command        text        NOT NULL,  -- the PublishCommand as JSON
    correlation_id text        NOT NULL DEFAULT '',
    reason         text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz
);
-- The timer wheel: only scheduled rows, in firing order.
CREATE INDEX posts_due ON distributor.posts (due_at, seq) WHERE state = 'scheduled';
CREATE INDEX posts_held ON distributor.posts (tenant_id, due_at, seq) WHERE state = 'held';
CREATE INDEX posts_job ON distributor.posts (tenant_id, job_id);

-- Paused scopes: a platform name, or '*' for the whole tenant.
CREATE TABLE distributor.pauses (
    tenant_id uuid        NOT NULL,
    scope     text        NOT NULL,
    actor     text        NOT NULL,
    reason    text        NOT NULL DEFAULT '',
    paused_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope)
);
