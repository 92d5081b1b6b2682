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
# /tmp is every account's: one could make this folder first, as a link to a folder of root's
# (which root would then hand to postgres) or as its own. So a link, or a folder owned by anyone
# but root, postgres or this user, is refused; and the cluster takes passwords over TCP, not
# trust, so that another local account cannot log in as its superuser (and, through COPY ...
# PROGRAM, run commands as the postgres account).
dir=${JITGATE_TEST_PG_DIR:-/tmp/jitgate-test-pg-$port}
if [ -L "$dir" ]; then echo "$dir is a symbolic link (made by another account?): refusing to use it" >&2; exit 1; fi
if [ -e "$dir" ]; then
  owner=$(stat -c %U "$dir")
  case "$owner" in root|postgres|"$(id -un)") ;; *) echo "$dir is owned by $owner, not root or postgres: refusing to use it" >&2; exit 1;; esac
fi
url_with_password() {
  if [ -f "$dir/password" ]; then echo "postgres://postgres:$(cat "$dir/password")@127.0.0.1:$port/postgres"; else echo "$url"; fi
}
# Reused only when the server on the port is this folder's (a server another account started on
# the port first would otherwise be handed to the tests).
if "$bindir/pg_isready" -h 127.0.0.1 -p "$port" -q 2>/dev/null && [ -f "$dir/data/postmaster.pid" ]; then url_with_password; exit 0; fi

# PostgreSQL refuses to run as root: run it as the postgres user the package creates.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$dir/data/PG_VERSION" ]; then
  mkdir -p -m 0700 "$dir"
  [ "$(id -u)" = 0 ] && chown -h postgres:postgres "$dir"
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/password")
  pwfile=$(umask 077; mktemp)
  cp "$dir/password" "$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
  as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 --pwfile="$pwfile" --no-sync -E UTF8 >/dev/null
  rm -f "$pwfile"
fi
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >&2
url_with_password
