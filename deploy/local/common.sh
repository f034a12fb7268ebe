# Shared helpers for the deploy/local scripts (sourced, not run).
# Everything these scripts create lives under AUTONAMA_LOCAL_DIR (default:
# <repo>/.local, ignored by git); downloaded jars live under AUTONAMA_CACHE_DIR
# (default: ~/.cache/autonama), outside the checkout, so a fresh clone reuses them.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AUTONAMA_LOCAL_DIR="${AUTONAMA_LOCAL_DIR:-$REPO_ROOT/.local}"
AUTONAMA_CACHE_DIR="${AUTONAMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/autonama}"

# The ports and folders the running stack was started with (stack.sh up writes them,
# down removes them): later commands (make status, make down, the autonama CLI) use
# them, unless the environment sets a value itself.
STACK_ENV="$AUTONAMA_LOCAL_DIR/stack.env"
if [[ -r $STACK_ENV ]]; then
  while IFS='=' read -r key value; do
    [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || continue
    [[ -n ${!key+set} ]] || export "$key=$value"
  done <"$STACK_ENV"
fi

# The local cluster's passwords (deploy/local/postgres.sh makes them): libpq, psql and
# asyncpg read them from this file. A caller's own PGPASSFILE wins.
export PGPASSFILE="${PGPASSFILE:-$AUTONAMA_LOCAL_DIR/postgres/pgpass}"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE is a live process
# whose command line contains PATTERN. A pid file that names a dead process or
# somebody else's process (pid reuse) is stale and is removed.
pid_alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"; then
    return 0
  fi
  log "removing stale pid file $pidfile (pid ${pid:-?} is not running)"
  rm -f "$pidfile"
  return 1
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_holder PORT: what listens on PORT, as ss(8) tells (for an error message).
port_holder() {
  local held
  held=$(ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $4, $6}' | head -n 3 | tr '\n' ' ')
  echo "${held:-listener unknown}"
}

# exited PID: true once process PID has exited and closed its files: gone, or a zombie
# nobody has reaped yet. Its command line empties before its sockets close (the kernel
# releases a dying process's memory first): a JVM killed with SIGKILL is "not running"
# by pid_alive a moment before its listening port is free.
exited() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z* || $state == X* ]]
}

# wait_exited PID NAME: until PID has exited (exited), up to 30 s.
wait_exited() {
  local i
  for ((i = 0; i < 300; i++)); do
    exited "$1" && return 0
    sleep 0.1
  done
  die "$2 (pid $1) has not exited 30 s after SIGKILL"
}

# stop_pid PIDFILE PATTERN NAME: SIGTERM, wait up to 60 s, then SIGKILL.
stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    log "$name is not running"
    return 0
  fi
  pid=$(<"$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    exited "$pid" && break
    sleep 0.1
  done
  if ! exited "$pid"; then
    log "$name did not stop in 60 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_exited "$pid" "$name"
  fi
  rm -f "$pidfile"
  log "$name stopped"
}
