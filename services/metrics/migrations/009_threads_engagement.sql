-- Threads reports reposts and quotes beside views, likes and replies (replies are counted
-- as comments): two more counts per engagement snapshot.
ALTER TABLE metrics.engagement_snapshots
    ADD COLUMN reposts bigint,
    ADD COLUMN quotes  bigint;
ALTER TABLE metrics.engagement_latest
    ADD COLUMN reposts bigint,
    ADD COLUMN quotes  bigint;
