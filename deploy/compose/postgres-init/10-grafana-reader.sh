#!/bin/sh
# Runs once, when the Postgres volume is created: a read-only role for Grafana's
# "jobcast read model" datasource, allowed to read the read model (schema metrics) only.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
CREATE SCHEMA IF NOT EXISTS metrics;
GRANT USAGE ON SCHEMA metrics TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics TO grafana_reader;
-- Tables the metrics service creates later (its migrations run as jobcast).
ALTER DEFAULT PRIVILEGES FOR ROLE jobcast IN SCHEMA metrics GRANT SELECT ON TABLES TO grafana_reader;
SQL
