#!/usr/bin/env bash
# The whole stack on this machine, without Docker: Kafka, PostgreSQL, the
# fetcher, two analyzer replicas, the ingestor, the notifier and the alerts API
# with the dashboard (ANALYZERS=n and INGESTORS=m: more replicas of either). Logs
# per service in $AUTONAMA_LOCAL_DIR/logs/.
#
#   deploy/local/stack.sh up       start what is not running (make up)
#   deploy/local/stack.sh down     stop everything (make down)
#   deploy/local/stack.sh status   what runs
#   deploy/local/stack.sh demo     up, then a scan of the core movers (or of DATA=<folder>)
#   deploy/local/stack.sh apps-up / apps-down   only the services (broker and database running)
#
# The services run under supervisord, which restarts one that dies.
#
# Settings: API_PORT (8000), DASHBOARD_PORT (3001), DATA (candle files for an
# offline demo), and those of kafka.sh / postgres.sh (KAFKA_PORT 9092, PG_PORT 5433;
# KAFKA_BROKERS=3: a cluster of three brokers, every topic replicated three times),
# ANALYZERS (2) and INGESTORS (1): the replicas of each, one consumer group each (the
# first ingestor alone watches the drop folder; docs/how-to/scaling.md).
# `up` writes them to $AUTONAMA_LOCAL_DIR/stack.env; status, down and the autonama
# CLI read them back from there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$REPO_ROOT/deploy/local"
PY="$REPO_ROOT/.venv/bin/python"
LOGS="$AUTONAMA_LOCAL_DIR/logs"
RUN="$AUTONAMA_LOCAL_DIR/run"
DROP="$AUTONAMA_LOCAL_DIR/drop"
API_PORT="${API_PORT:-8000}"
DASHBOARD_PORT="${DASHBOARD_PORT:-3001}"
ANALYZERS="${ANALYZERS:-2}"
INGESTORS="${INGESTORS:-1}"
[[ $ANALYZERS =~ ^[1-9][0-9]?$ ]] || die "ANALYZERS=$ANALYZERS: a number of analyzer replicas, 1 to 99"
[[ $INGESTORS =~ ^[1-9][0-9]?$ ]] || die "INGESTORS=$INGESTORS: a number of ingestor replicas, 1 to 99"
# One ingestor is "ingestor" (its log is logs/ingestor.log, as ever); several are
# ingestor-1..m. The analyzers are analyzer-1..n.
if ((INGESTORS == 1)); then SERVICES=(ingestor); else SERVICES=(); fi
for ((i = 1; INGESTORS > 1 && i <= INGESTORS; i++)); do SERVICES+=("ingestor-$i"); done
for ((i = 1; i <= ANALYZERS; i++)); do SERVICES+=("analyzer-$i"); done
SERVICES+=(fetcher notifier alerts-api)
KAFKA_BROKERS="${KAFKA_BROKERS:-1}"
REPLICAS=$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))
bootstrap() { "$here/kafka.sh" bootstrap; }  # every broker (of a cluster), at the call's ports

# Each service logs in with the least it needs (deploy/postgres/roles.sql); the
# owner applies the migrations once, before any service starts.
login_of() {
  case "$1" in
    alerts-api) echo autonama_api ;;
    ingestor* | fetcher) echo autonama_writer ;;
    notifier) echo autonama_notifier ;;
    analyzer-*) echo "" ;;  # the analyzer never touches the database
    *) echo "${PG_USER:-autonama}" ;;
  esac
}

module_of() {
  case "$1" in
    analyzer-*) echo autonama_analyzer ;;
    ingestor-*) echo autonama_ingestor ;;
    alerts-api) echo autonama_alerts_api ;;
    *) echo "autonama_$1" ;;
  esac
}

# The services run under supervisord (supervisor from PyPI, in the workspace):
# a service that dies is restarted, with a growing delay while it keeps dying at
# start-up; `status` shows their state. Its configuration is written here.
CONF="$AUTONAMA_LOCAL_DIR/supervisord.conf"
SUPERVISORD="$REPO_ROOT/.venv/bin/supervisord"
SUPERVISORCTL=("$REPO_ROOT/.venv/bin/supervisorctl" -c "$CONF")

write_conf() {
  [[ -x $SUPERVISORD ]] || die "no supervisord in $REPO_ROOT/.venv: run make setup"
  local name common login extra
  common="AUTONAMA_KAFKA__BOOTSTRAP_SERVERS=\"$(bootstrap)\""
  common+=",AUTONAMA_KAFKA__REPLICATION_FACTOR=\"$REPLICAS\""
  common+=",AUTONAMA_POSTGRES__HOST=\"${PG_HOST:-127.0.0.1}\",AUTONAMA_POSTGRES__PORT=\"${PG_PORT:-5433}\""
  common+=",AUTONAMA_POSTGRES__MIGRATE=\"false\",AUTONAMA_FETCHER_CACHE_DIR=\"$AUTONAMA_LOCAL_DIR/cache\""
  common+=",AUTONAMA_INGESTOR_DROP_FOLDER=\"$DROP\",AUTONAMA_ALERTS_API_PORT=\"$API_PORT\""
  common+=",AUTONAMA_ALERTS_API_DASHBOARD_PORT=\"$DASHBOARD_PORT\""
  common+=",AUTONAMA_NOTIFIER_PUBLIC_URL=\"http://127.0.0.1:$DASHBOARD_PORT\""
  # each login's password from the cluster's password file (postgres.sh made them), never
  # one inherited from the caller's environment (the owner's, say)
  common+=",PGPASSFILE=\"$PGPASSFILE\",AUTONAMA_POSTGRES__PASSWORD=\"\""
  {
    echo "[supervisord]"
    echo "logfile=$LOGS/supervisord.log"
    echo "pidfile=$RUN/supervisord.pid"
    echo "childlogdir=$LOGS"
    echo "[unix_http_server]"
    echo "file=$RUN/supervisor.sock"
    echo "chmod=0700"
    echo "[rpcinterface:supervisor]"
    echo "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface"
    echo "[supervisorctl]"
    echo "serverurl=unix://$RUN/supervisor.sock"
    for name in "${SERVICES[@]}"; do
      echo "[program:$name]"
      echo "command=$PY -m $(module_of "$name")"
      login=$(login_of "$name")
      extra=""
      # one watcher of the drop folder: two would race to move the same file
      if [[ $name == ingestor-* && $name != ingestor-1 ]]; then
        extra=",AUTONAMA_INGESTOR_WATCH_FILES=\"false\""
      fi
      echo "environment=$common${login:+,AUTONAMA_POSTGRES__USER=\"$login\"}$extra"
      echo "autorestart=true"
      echo "startsecs=3"
      echo "startretries=20"
      echo "stopsignal=TERM"
      echo "stopwaitsecs=60"
      echo "redirect_stderr=true"
      echo "stdout_logfile=$LOGS/$name.log"
      echo "stdout_logfile_maxbytes=20MB"
    done
  } >"$CONF.new"
  mv "$CONF.new" "$CONF"
}

supervisor_alive() {
  pid_alive "$RUN/supervisord.pid" supervisord 2>/dev/null
}

# Only the services, on a broker and database that already run (the tests' chaos case).
apps_up() {
  mkdir -p "$LOGS" "$RUN" "$DROP"
  AUTONAMA_POSTGRES__HOST="${PG_HOST:-127.0.0.1}" AUTONAMA_POSTGRES__PORT="${PG_PORT:-5433}" \
    "$REPO_ROOT/.venv/bin/autonama" migrate || die "the migrations failed"
  write_conf
  if supervisor_alive; then
    "${SUPERVISORCTL[@]}" update >/dev/null
    "${SUPERVISORCTL[@]}" start all >/dev/null || true
  else
    "$SUPERVISORD" -c "$CONF" || die "supervisord did not start; see $LOGS/supervisord.log"
  fi
  log "services under supervisord (logs in $LOGS/, state: make status)"
}

wait_ready() {
  local i
  for ((i = 0; i < 120; i++)); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$API_PORT/readyz', timeout=2)" 2>/dev/null; then
      return 0
    fi
    supervisor_alive || die "supervisord exited; see $LOGS/supervisord.log"
    sleep 0.5
  done
  die "the alerts API is not ready after 60 s; see $LOGS/ (make status)"
}

# A write token for this machine's user, created once and kept in the state folder
# (readable by its owner only): the dashboard's address carries it, as Jupyter's does.
local_token() {
  local file="$AUTONAMA_LOCAL_DIR/api-token"
  if [[ ! -s $file ]]; then
    (umask 077 && AUTONAMA_POSTGRES__HOST="${PG_HOST:-127.0.0.1}" AUTONAMA_POSTGRES__PORT="${PG_PORT:-5433}" \
      "$REPO_ROOT/.venv/bin/autonama" token create --scope write --quiet \
      --name "local-$(date -u +%Y%m%d%H%M%S)" >"$file.new" && mv "$file.new" "$file") \
      || die "could not create the local API token"
  fi
  cat "$file"
}

dashboard_url() {
  echo "http://127.0.0.1:$DASHBOARD_PORT/alerts#token=$(local_token)"
}

# What later commands need to find this stack (common.sh reads it back).
write_stack_env() {
  {
    echo "KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}"
    echo "KAFKA_PORT=${KAFKA_PORT:-9092}"
    echo "KAFKA_BROKERS=$KAFKA_BROKERS"
    echo "ANALYZERS=$ANALYZERS"
    echo "INGESTORS=$INGESTORS"
    echo "PG_HOST=${PG_HOST:-127.0.0.1}"
    echo "PG_PORT=${PG_PORT:-5433}"
    echo "API_PORT=$API_PORT"
    echo "DASHBOARD_PORT=$DASHBOARD_PORT"
    echo "AUTONAMA_KAFKA__BOOTSTRAP_SERVERS=$(bootstrap)"
    echo "AUTONAMA_KAFKA__REPLICATION_FACTOR=$REPLICAS"
    echo "AUTONAMA_POSTGRES__HOST=${PG_HOST:-127.0.0.1}"
    echo "AUTONAMA_POSTGRES__PORT=${PG_PORT:-5433}"
    echo "AUTONAMA_INGESTOR_DROP_FOLDER=$DROP"
    echo "PGPASSFILE=$PGPASSFILE"
  } >"$STACK_ENV.new"
  mv "$STACK_ENV.new" "$STACK_ENV"
}

up() {
  mkdir -p "$LOGS" "$RUN" "$DROP"
  write_stack_env
  "$here/services.sh" up
  apps_up
  wait_ready
  log "ready: dashboard $(dashboard_url)"
  log "API http://127.0.0.1:$API_PORT/docs (writes need 'Authorization: Bearer <token>'; the token is in $AUTONAMA_LOCAL_DIR/api-token)"
}

apps_down() {
  if supervisor_alive; then
    log "stopping the services"
    "${SUPERVISORCTL[@]}" shutdown >/dev/null || true
    local i
    for ((i = 0; i < 700; i++)); do supervisor_alive || break; sleep 0.1; done
  fi
}

down() {
  apps_down
  "$here/services.sh" down
  rm -f "$STACK_ENV"
}

status() {
  local rc=0
  if supervisor_alive; then
    "${SUPERVISORCTL[@]}" status || rc=1
    # where to look (the token is the one `up` made; none is made here)
    local token=""
    [[ -s $AUTONAMA_LOCAL_DIR/api-token ]] && token="#token=$(cat "$AUTONAMA_LOCAL_DIR/api-token")"
    echo "dashboard  http://127.0.0.1:$DASHBOARD_PORT/alerts$token"
    echo "API        http://127.0.0.1:$API_PORT/docs (readiness: /readyz, metrics: /metrics)"
  else
    echo "services not running (supervisord is not running)"; rc=1
  fi
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
    if ! AUTONAMA_KAFKA__BOOTSTRAP_SERVERS="$(bootstrap)" \
      AUTONAMA_POSTGRES__PORT="${PG_PORT:-5433}" "$autonama" request-scan --wait --timeout 180; then
      log "the scan did not finish (no access to Binance?); run offline: make demo DATA=../shared/data/klines/until-2026-03/1d"
      log "dashboard: $(dashboard_url) (make down stops the stack)"
      exit 1
    fi
  fi
  log "dashboard: $(dashboard_url) (make down stops the stack)"
  log "live market (needs Binance): uv run autonama watch add --name majors --intervals 1m"
  log "  (or start the stack with AUTONAMA_WATCH__ENABLED=true make up; docs/tutorial/live-market.md)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  demo) demo ;;
  apps-up) apps_up ;;
  apps-down) apps_down ;;
  *) echo "usage: $0 {up|down|status|demo|apps-up|apps-down}" >&2; exit 2 ;;
esac
