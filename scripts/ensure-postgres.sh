#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests (Debian's packages; installed when missing)
# and prints its URL. Reuses the cluster when it is already running.
# JITGATE_TEST_PG_URL, when set, is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${JITGATE_TEST_PG_URL:-}" ]; then echo "$JITGATE_TEST_PG_URL"; exit 0; fi
port=${JITGATE_TEST_PG_PORT:-54329}
url="postgres://postgres@127.0.0.1:$port/postgres"

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
  echo "==> installing PostgreSQL from Debian's packages" >&2
  if [ "$(id -u)" != 0 ]; then echo "PostgreSQL is not installed; run as root or install the 'postgresql' package" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi

# Outside the checkout: the postgres user must be able to reach it whatever the clone's permissions.
dir=${JITGATE_TEST_PG_DIR:-/tmp/jitgate-test-pg-$port}
if "$bindir/pg_isready" -h 127.0.0.1 -p "$port" -q 2>/dev/null; then echo "$url"; exit 0; fi

# PostgreSQL refuses to run as root: run it as the postgres user the package creates.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$dir/data/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
fi
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >&2
echo "$url"
