#!/usr/bin/env bash
# The local infrastructure, both parts at once: deploy/local/services.sh {up|down|status}.
# `make services-up` / `make services-down` call this.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$REPO_ROOT/deploy/local"

case "${1:-}" in
  up) "$here/postgres.sh" start && "$here/kafka.sh" start ;;
  down)
    rc=0
    "$here/kafka.sh" stop || rc=$?
    "$here/postgres.sh" stop || rc=$?
    exit "$rc" ;;
  status)
    rc=0
    "$here/kafka.sh" status || rc=$?
    "$here/postgres.sh" status || rc=$?
    exit "$rc" ;;
  *) echo "usage: $0 {up|down|status}" >&2; exit 2 ;;
esac
