-- Which dead letters `jobcast dlq replay` has sent back to their topics: one row per dead
-- letter, so a second replay of the same one sends nothing unless forced (--again).
--   sending   claimed by a replay that has not yet seen the broker's acknowledgement; left
--             behind only if that replay died midway: in doubt, sent only with --again
--   replayed  the broker acknowledged it (target_partition/target_offset say where)
--   failed    the broker refused it: nothing went, a later replay may send it
-- A dead letter is known by its place (topic, partition, offset) and the time it was
-- parked: a DLQ topic deleted and created again reuses offsets for other records.
CREATE SCHEMA IF NOT EXISTS dlq;

CREATE TABLE dlq.replays (
    dlq_topic          text        NOT NULL,
    dlq_partition      integer     NOT NULL,
    dlq_offset         bigint      NOT NULL,
    parked_at_ms       bigint      NOT NULL,
    original_topic     text        NOT NULL,
    original_partition integer,
    original_offset    bigint,
    value_sha256       bytea       NOT NULL,
    state              text        NOT NULL CHECK (state IN ('sending', 'replayed', 'failed')),
    actor              text        NOT NULL,
    claimed_at         timestamptz NOT NULL DEFAULT now(),
    replayed_at        timestamptz,
    target_partition   integer,
    target_offset      bigint,
    sends              integer     NOT NULL DEFAULT 0,
    error              text,
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);

-- Each group that failed on a record parks its own dead letter of it; one replay reaches
-- every group, so a dead letter whose record went back through another one is done too.
CREATE INDEX replays_by_origin
    ON dlq.replays (original_topic, original_partition, original_offset);
