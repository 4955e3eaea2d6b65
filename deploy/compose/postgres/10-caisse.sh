#!/usr/bin/env bash
# PostgreSQL init (docker-compose.yml mounts this folder on /docker-entrypoint-initdb.d): runs once, on an
# empty data volume. Creates the `caisse` login role (password: CAISSE_DB_PASSWORD) and one database per
# central service, owned by that role; each service applies its own migrations when it starts.
# hw-proxy has no database: it keeps a SQLite file on its till.
set -euo pipefail

: "${CAISSE_DB_PASSWORD:?CAISSE_DB_PASSWORD must be set}"

psql --no-psqlrc -v ON_ERROR_STOP=1 \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  --set=caisse_password="${CAISSE_DB_PASSWORD}" <<'SQL'
SELECT format('CREATE ROLE caisse LOGIN PASSWORD %L', :'caisse_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'caisse')\gexec

SELECT format('CREATE DATABASE %I OWNER caisse', db)
FROM unnest(ARRAY['caisse_pos_api', 'caisse_session_service', 'caisse_paheko_bridge', 'caisse_notifier']) AS db
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db)\gexec
SQL
