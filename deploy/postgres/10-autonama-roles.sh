#!/bin/sh
# docker-compose: the postgres image runs this once, when it initialises its data
# folder, as the owner (POSTGRES_USER). The SQL is deploy/postgres/roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v writer_password="${AUTONAMA_WRITER_PASSWORD:-}" -v api_password="${AUTONAMA_API_PASSWORD:-}" \
  -v notifier_password="${AUTONAMA_NOTIFIER_PASSWORD:-}" \
  -f /autonama/roles.sql
