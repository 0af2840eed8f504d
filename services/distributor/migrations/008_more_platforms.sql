-- Threads and LinkedIn connections beside Facebook and Instagram ones.
ALTER TABLE distributor.connections
    DROP CONSTRAINT IF EXISTS connections_platform_check,
    ADD CONSTRAINT connections_platform_check
        CHECK (platform IN ('facebook', 'instagram', 'threads', 'linkedin')),
    DROP CONSTRAINT IF EXISTS connections_login_check,
    ADD CONSTRAINT connections_login_check
        CHECK (login IN ('facebook', 'instagram', 'threads', 'linkedin'));
