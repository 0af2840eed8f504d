-- An outcome is stored before it is emitted. A command from Kafka that dies in between is
-- redelivered and re-emits the stored result, but a retry or confirmation fired by the
-- timer loop has no record to redeliver: its result would be stored and never sent (the
-- chaos suite found posted posts the read model still showed as retry_scheduled). Each
-- stored result is now pending until Kafka has it; the timer loop re-sends old pending ones.
ALTER TABLE publishing.post_claims
    ADD COLUMN result_pending boolean NOT NULL DEFAULT false;
CREATE INDEX post_claims_unsent ON publishing.post_claims (platform, updated_at)
    WHERE result_pending;
