-- Operator retries: a failed post is reopened for a fresh series of attempts. The attempt
-- counter keeps growing (results stay ordered in the read model); `series_start` is the
-- first attempt of the current series, so retry tiers count from there. The ids of the
-- retry commands applied make a redelivered command a no-op.
ALTER TABLE publishing.post_claims
    ADD COLUMN series_start     integer NOT NULL DEFAULT 1,
    ADD COLUMN operator_retries uuid[]  NOT NULL DEFAULT '{}';
