#!/usr/bin/env bash
# Run a command with the local Kafka and PostgreSQL up, then stop whichever of
# the two this script started (one already running is left running):
#   deploy/local/with-services.sh uv run pytest
# The command sees AUTONAMA_TEST_KAFKA_BOOTSTRAP and AUTONAMA_TEST_PG_DSN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$REPO_ROOT/deploy/local"

started=()
cleanup() {
  local part
  for part in "${started[@]}"; do "$here/$part.sh" stop || true; done
}
trap cleanup EXIT

for part in postgres kafka; do
  if ! "$here/$part.sh" status >/dev/null 2>&1; then
    started+=("$part")
  fi
  "$here/$part.sh" start
done

export AUTONAMA_TEST_KAFKA_BOOTSTRAP="${KAFKA_HOST:-127.0.0.1}:${KAFKA_PORT:-9092}"
# The owner's password (and the logins', for the roles test) from the cluster's own file.
set -a
# shellcheck source=/dev/null
source "$AUTONAMA_LOCAL_DIR/postgres/passwords.env"
set +a
export PGPASSFILE="$AUTONAMA_LOCAL_DIR/postgres/pgpass"
export AUTONAMA_TEST_PG_DSN="postgresql://${PG_USER:-autonama}:$PG_OWNER_PASSWORD@${PG_HOST:-127.0.0.1}:${PG_PORT:-5433}/${PG_DB:-autonama}"
rc=0
"$@" || rc=$?
exit "$rc"
