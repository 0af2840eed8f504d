-- Upstream revisions are often epoch milliseconds (1764735000000): an `integer` overflowed
-- and wedged the batch that carried one. The contract bounds a revision by bigint
-- (schemas.bounds.MAX_BIGINT), so every revision it accepts is stored.
ALTER TABLE distributor.jobs ALTER COLUMN revision TYPE bigint;
ALTER TABLE distributor.posts ALTER COLUMN revision TYPE bigint;
