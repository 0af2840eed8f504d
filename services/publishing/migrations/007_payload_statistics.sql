-- The stored command, result and progress are payload: read back by key, never what a
-- query selects rows by. Planner statistics on them help no plan, and gathering them was
-- most of what ANALYZE spent on this table (every sampled document detoasted and
-- compared), every time autovacuum analyzed it.
ALTER TABLE publishing.post_claims
    ALTER COLUMN command_event SET STATISTICS 0,
    ALTER COLUMN result_event SET STATISTICS 0,
    ALTER COLUMN progress SET STATISTICS 0;
