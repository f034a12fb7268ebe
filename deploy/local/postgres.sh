#!/usr/bin/env bash
# The machine's PostgreSQL 15 (Debian's package) in a folder of its own,
# without Docker. PostgreSQL refuses to run as root, so initdb and the server
# run as the `postgres` system user, which owns the data folder.
#
#   deploy/local/postgres.sh start     install the server if absent, initdb once, start, create the database
#   deploy/local/postgres.sh stop      fast shutdown (pg_ctl -m fast)
#   deploy/local/postgres.sh status    exit 0 when running
#   deploy/local/postgres.sh reset     stop and delete the cluster
#
# Settings (environment): PG_HOST (127.0.0.1), PG_PORT (5433), PG_DB (autonama),
# PG_USER (autonama, a superuser of this private cluster), PG_BIN
# (/usr/lib/postgresql/15/bin), AUTONAMA_LOCAL_DIR.
#
# Authentication is scram-sha-256 (on 127.0.0.1 only: this cluster listens on loopback
# and nowhere else), never `trust`: the first start makes a password for the owner and
# for each login (deploy/postgres/roles.sql) into $AUTONAMA_LOCAL_DIR/postgres/passwords.env
# and a libpq password file beside it, pgpass (both readable by their owner only), which
# the scripts, the services under `make up`, the tests and the CLI find through PGPASSFILE.
# A cluster made with `trust` by an older version is moved to scram-sha-256 at its start.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5433}"
PG_DB="${PG_DB:-autonama}"
PG_USER="${PG_USER:-autonama}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${PG_OS_USER:-postgres}"

HOME_DIR="$AUTONAMA_LOCAL_DIR/postgres"
DATA_DIR="$HOME_DIR/data"
LOG_FILE="$HOME_DIR/postgres.log"
SECRETS="$HOME_DIR/passwords.env"
# This script talks to its own cluster with its own passwords, whatever the caller's.
export PGPASSFILE="$HOME_DIR/pgpass"

new_password() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-32; }

# Passwords made once (an operator may set AUTONAMA_*_PASSWORD to choose the logins').
ensure_passwords() {
  if [[ ! -s $SECRETS ]]; then
    (umask 077 && {
      echo "PG_OWNER_PASSWORD=$(new_password)"
      echo "AUTONAMA_WRITER_PASSWORD=${AUTONAMA_WRITER_PASSWORD:-$(new_password)}"
      echo "AUTONAMA_NOTIFIER_PASSWORD=${AUTONAMA_NOTIFIER_PASSWORD:-$(new_password)}"
      echo "AUTONAMA_API_PASSWORD=${AUTONAMA_API_PASSWORD:-$(new_password)}"
    } >"$SECRETS.new" && mv "$SECRETS.new" "$SECRETS")
    log "passwords made: $SECRETS"
  fi
  # shellcheck source=/dev/null
  source "$SECRETS"
  (umask 077 && {
    echo "*:*:*:$PG_USER:$PG_OWNER_PASSWORD"
    echo "*:*:*:autonama_writer:$AUTONAMA_WRITER_PASSWORD"
    echo "*:*:*:autonama_notifier:$AUTONAMA_NOTIFIER_PASSWORD"
    echo "*:*:*:autonama_api:$AUTONAMA_API_PASSWORD"
  } >"$PGPASSFILE.new" && mv "$PGPASSFILE.new" "$PGPASSFILE")
}

# A cluster initialised with `trust` (before passwords were made): the owner gets its
# password while trust still lets it in, then every host line asks for scram-sha-256.
leave_trust() {
  grep -qE '^[[:space:]]*host.*[[:space:]]trust[[:space:]]*$' "$DATA_DIR/pg_hba.conf" || return 0
  log "moving the cluster from trust to scram-sha-256 authentication"
  "$PG_BIN/psql" -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres \
    -c "ALTER ROLE \"$PG_USER\" PASSWORD '$PG_OWNER_PASSWORD'" >/dev/null
  as_pg sed -i -E 's/^([[:space:]]*host.*[[:space:]])trust[[:space:]]*$/\1scram-sha-256/; s/^([[:space:]]*local.*[[:space:]])trust[[:space:]]*$/\1peer/' \
    "$DATA_DIR/pg_hba.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" reload >/dev/null
}

as_pg() {
  if [[ $(id -un) == "$PG_OS_USER" ]]; then "$@"; else runuser -u "$PG_OS_USER" -- "$@"; fi
}

install_server() {
  [[ -x $PG_BIN/postgres ]] && return 0
  [[ $(id -u) == 0 ]] || die "$PG_BIN/postgres is missing; install Debian's postgresql-15 package"
  log "installing Debian's postgresql-15 (server binaries missing in $PG_BIN)"
  # The package's own cluster is not wanted: we run our own in $DATA_DIR.
  mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql-15 >&2
  [[ -x $PG_BIN/postgres ]] || die "postgresql-15 installed but $PG_BIN/postgres is still missing"
}

pg_running() { [[ -f $DATA_DIR/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; }

start() {
  install_server
  id "$PG_OS_USER" >/dev/null 2>&1 || die "system user $PG_OS_USER does not exist (it comes with the postgresql package)"
  mkdir -p "$HOME_DIR"
  # The server user must be able to reach its folder: every parent must be searchable.
  chown "$PG_OS_USER" "$HOME_DIR"
  if ! as_pg test -x "$HOME_DIR"; then
    die "user $PG_OS_USER cannot enter $HOME_DIR (a parent folder is not searchable); set AUTONAMA_LOCAL_DIR"
  fi
  ensure_passwords
  if [[ ! -f $DATA_DIR/PG_VERSION ]]; then
    log "initdb in $DATA_DIR (scram-sha-256)"
    rm -rf "$DATA_DIR"
    local pwfile="$HOME_DIR/.owner-password"
    (umask 077 && printf '%s\n' "$PG_OWNER_PASSWORD" >"$pwfile") && chown "$PG_OS_USER" "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$DATA_DIR" -U "$PG_USER" --auth-host=scram-sha-256 --auth-local=peer \
      --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >>"$LOG_FILE.init" 2>&1 \
      || { rm -f "$pwfile"; die "initdb failed; see $LOG_FILE.init"; }
    rm -f "$pwfile"
  fi
  if pg_running; then
    log "already running on $PG_HOST:$PG_PORT"
  else
    if port_open "$PG_HOST" "$PG_PORT"; then
      die "port $PG_HOST:$PG_PORT is taken by another process; set PG_PORT"
    fi
    log "starting PostgreSQL on $PG_HOST:$PG_PORT (log: $LOG_FILE)"
    touch "$LOG_FILE" && chown "$PG_OS_USER" "$LOG_FILE"
    # pg_ctl removes a stale postmaster.pid itself when its process is gone.
    as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 \
      -o "-c listen_addresses=$PG_HOST -p $PG_PORT -c unix_socket_directories=$DATA_DIR -c max_connections=300" \
      start >/dev/null || { tail -n 20 "$LOG_FILE" >&2; die "PostgreSQL did not start; see $LOG_FILE"; }
  fi
  leave_trust
  if ! "$PG_BIN/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    log "creating database $PG_DB"
    "$PG_BIN/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  fi
  # The least-privilege logins (the writer, the API's reader): deploy/postgres/roles.sql.
  "$PG_BIN/psql" -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
    -v writer_password="$AUTONAMA_WRITER_PASSWORD" -v api_password="$AUTONAMA_API_PASSWORD" \
    -v notifier_password="$AUTONAMA_NOTIFIER_PASSWORD" \
    -f "$REPO_ROOT/deploy/postgres/roles.sql" >/dev/null || die "could not create the login roles"
  log "ready: postgresql://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB (logins: autonama_writer, autonama_notifier, autonama_api; passwords in $PGPASSFILE)"
}

stop() {
  if [[ -f $DATA_DIR/PG_VERSION ]] && pg_running; then
    log "stopping PostgreSQL"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m fast -w -t 60 stop >/dev/null
    log "PostgreSQL stopped"
  else
    log "PostgreSQL is not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if [[ -f $DATA_DIR/PG_VERSION ]] && pg_running; then
      echo "postgres running on $PG_HOST:$PG_PORT"
    else
      echo "postgres not running"; exit 1
    fi ;;
  reset) stop; rm -rf "$DATA_DIR" "$SECRETS" "$PGPASSFILE"; log "cluster and its passwords deleted" ;;
  *) echo "usage: $0 {start|stop|status|reset}" >&2; exit 2 ;;
esac
