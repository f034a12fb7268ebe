#!/usr/bin/env bash
# The whole stack on this machine, without Docker: Kafka, PostgreSQL, the
# fetcher, two analyzer replicas, the ingestor and the alerts API with the
# dashboard. Logs per service in $AUTONAMA_LOCAL_DIR/logs/.
#
#   deploy/local/stack.sh up       start what is not running (make up)
#   deploy/local/stack.sh down     stop everything (make down)
#   deploy/local/stack.sh status   what runs
#   deploy/local/stack.sh demo     up, then a scan of the core movers (or of DATA=<folder>)
#
# Settings: API_PORT (8000), DASHBOARD_PORT (3001), DATA (candle files for an
# offline demo), and those of kafka.sh / postgres.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$REPO_ROOT/deploy/local"
PY="$REPO_ROOT/.venv/bin/python"
LOGS="$AUTONAMA_LOCAL_DIR/logs"
RUN="$AUTONAMA_LOCAL_DIR/run"
DROP="$AUTONAMA_LOCAL_DIR/drop"
API_PORT="${API_PORT:-8000}"
DASHBOARD_PORT="${DASHBOARD_PORT:-3001}"
SERVICES=(ingestor analyzer-1 analyzer-2 fetcher alerts-api)

module_of() {
  case "$1" in
    analyzer-*) echo autonama_analyzer ;;
    alerts-api) echo autonama_alerts_api ;;
    *) echo "autonama_$1" ;;
  esac
}

start_one() {
  local name=$1 module pid_file
  module=$(module_of "$name")
  pid_file="$RUN/$name.pid"
  if pid_alive "$pid_file" "-m $module"; then
    log "$name already running (pid $(<"$pid_file"))"
    return 0
  fi
  [[ -x $PY ]] || die "no virtual environment at $REPO_ROOT/.venv: run make setup"
  env AUTONAMA_KAFKA__BOOTSTRAP_SERVERS="${KAFKA_HOST:-127.0.0.1}:${KAFKA_PORT:-9092}" \
    AUTONAMA_POSTGRES__HOST="${PG_HOST:-127.0.0.1}" AUTONAMA_POSTGRES__PORT="${PG_PORT:-5433}" \
    AUTONAMA_FETCHER_CACHE_DIR="$AUTONAMA_LOCAL_DIR/cache" \
    AUTONAMA_INGESTOR_DROP_FOLDER="$DROP" \
    AUTONAMA_ALERTS_API_PORT="$API_PORT" AUTONAMA_ALERTS_API_DASHBOARD_PORT="$DASHBOARD_PORT" \
    nohup "$PY" -m "$module" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  log "started $name (pid $!, log $LOGS/$name.log)"
}

wait_ready() {
  local i
  for ((i = 0; i < 120; i++)); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$API_PORT/readyz', timeout=2)" 2>/dev/null; then
      return 0
    fi
    pid_alive "$RUN/alerts-api.pid" "-m autonama_alerts_api" || die "the alerts API exited; see $LOGS/alerts-api.log"
    sleep 0.5
  done
  die "the alerts API is not ready after 60 s; see $LOGS/"
}

up() {
  mkdir -p "$LOGS" "$RUN" "$DROP"
  "$here/services.sh" up
  local name
  for name in "${SERVICES[@]}"; do start_one "$name"; done
  wait_ready
  log "ready: dashboard http://127.0.0.1:$DASHBOARD_PORT/alerts, API http://127.0.0.1:$API_PORT/docs"
}

down() {
  local name
  for name in fetcher alerts-api analyzer-1 analyzer-2 ingestor; do
    stop_pid "$RUN/$name.pid" "-m $(module_of "$name")" "$name"
  done
  "$here/services.sh" down
}

status() {
  local name rc=0
  for name in "${SERVICES[@]}"; do
    if pid_alive "$RUN/$name.pid" "-m $(module_of "$name")"; then
      echo "$name running (pid $(<"$RUN/$name.pid"))"
    else
      echo "$name not running"; rc=1
    fi
  done
  "$here/services.sh" status || rc=1
  return "$rc"
}

demo() {
  up
  local autonama="$REPO_ROOT/.venv/bin/autonama"
  if [[ -n ${DATA:-} ]]; then
    log "scanning the candle files in $DATA; the ingestor takes the results file from $DROP"
    "$autonama" scan --data "$DATA" --top 100 --output "$DROP" --log-file "$LOGS/scan.log"
    local i
    for ((i = 0; i < 60; i++)); do
      if "$PY" -c "import json,urllib.request,sys; r=json.load(urllib.request.urlopen('http://127.0.0.1:$API_PORT/v1/ingestion/status?limit=1', timeout=2)); sys.exit(0 if r and r[0]['status']=='ingested' else 1)" 2>/dev/null; then
        break
      fi
      sleep 0.5
    done
  else
    log "requesting a scan of the core movers through the pipeline"
    if ! AUTONAMA_KAFKA__BOOTSTRAP_SERVERS="${KAFKA_HOST:-127.0.0.1}:${KAFKA_PORT:-9092}" \
      AUTONAMA_POSTGRES__PORT="${PG_PORT:-5433}" "$autonama" request-scan --wait --timeout 180; then
      log "the scan did not finish (no access to Binance?); run offline: make demo DATA=../shared/data/klines/until-2026-03/1d"
      log "dashboard: http://127.0.0.1:$DASHBOARD_PORT/alerts (make down stops the stack)"
      exit 1
    fi
  fi
  log "dashboard: http://127.0.0.1:$DASHBOARD_PORT/alerts (make down stops the stack)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  demo) demo ;;
  *) echo "usage: $0 {up|down|status|demo}" >&2; exit 2 ;;
esac
