-- Each tenant's content profile (language, locale, hashtags, footer, default image,
-- attribution, approval and update policy), validated by services.distributor.profile.
-- A tenant without a row gets the defaults.
CREATE TABLE distributor.tenant_profiles (
    tenant_id  uuid        PRIMARY KEY,
    profile    jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
