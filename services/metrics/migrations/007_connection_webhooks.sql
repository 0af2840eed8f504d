-- Outbound webhooks about connections (connection.expiring, connection.expired) are about
-- no post: their deliveries carry no post key.
ALTER TABLE metrics.webhook_deliveries ALTER COLUMN post_key DROP NOT NULL;
