#!/usr/bin/env bash
# The whole test suite as `make test` runs it, on the local Kafka and PostgreSQL that
# with-services.sh started (AUTONAMA_TEST_KAFKA_BOOTSTRAP / AUTONAMA_TEST_PG_DSN), in
# PYTEST_WORKERS processes (pytest-xdist, default 4: most of a test's time is spent
# waiting on the broker, the database or a service, so more processes than cores pay).
# Each test has its own topic prefix, consumer group and schema, so tests never see each
# other's records; a test that restarts its broker starts one of its own (own_kafka).
# Prints the 25 slowest tests. Arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
UV="${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}"
started=$(date +%s)
rc=0
"$UV" run --frozen pytest -n "${PYTEST_WORKERS:-4}" --dist worksteal --durations=25 "$@" || rc=$?
log "pytest took $(($(date +%s) - started)) s in ${PYTEST_WORKERS:-4} processes (exit $rc)"
exit "$rc"
