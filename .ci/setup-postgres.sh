#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the history store's tests
# (tests/history_fixture.py starts a throwaway server with initdb/pg_ctl on a free port;
# nothing here starts a service). Idempotent: does nothing when initdb is already there.
set -euo pipefail

found=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -n1 || true)
if [ -n "$found" ] || command -v initdb >/dev/null 2>&1; then
  echo "postgresql present: ${found:-$(command -v initdb)}"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# postgresql's package would start a cluster as a service; the binaries alone are enough
$SUDO apt-get install -y -qq --no-install-recommends postgresql-15 ||
  $SUDO apt-get install -y -qq --no-install-recommends postgresql
echo "postgresql installed: $(ls /usr/lib/postgresql/*/bin/initdb | head -n1)"
