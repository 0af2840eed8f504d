-- A post's first comment: the greatest of its results' comment values, each a fixed-width
-- sortable key (rank, attempts, microseconds, event id: digits and hex) followed by the
-- comment as JSON (status, id, attempts, error). The greatest of a set is order-free, so a
-- live merge (GREATEST) and a rebuild (max) give the same value.
ALTER TABLE metrics.job_posts ADD COLUMN first_comment text COLLATE "C";
