-- What a key may do: `tenant` (submit events, read its posts) or `operator` (that, and
-- issue operator commands for its tenant: retry, cancel, approve/reject, pause/resume).
-- Existing keys keep the narrower scope.
ALTER TABLE tenancy.api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'tenant' CHECK (scope IN ('tenant', 'operator'));
