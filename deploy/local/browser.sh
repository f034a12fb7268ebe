#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (Playwright drives it through
# executable_path; no browser is ever downloaded). Idempotent; prints the path.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x $CHROMIUM ]]; then
  [[ $(id -u) == 0 ]] || die "$CHROMIUM is missing: apt-get install chromium (as root)"
  log "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
  [[ -x $CHROMIUM ]] || die "chromium installed but $CHROMIUM is missing"
fi
echo "$CHROMIUM"
