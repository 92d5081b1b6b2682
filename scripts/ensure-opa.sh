#!/usr/bin/env bash
# Makes the pinned opa available at .tools/bin/opa and prints its path.
# Order: .tools/bin/opa if recent enough, an opa on PATH if it is the pinned version
# or newer, else `go install` of the pinned version into .tools/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. scripts/versions.env
root=$(pwd)
mkdir -p .tools/bin

version_of() { "$1" version 2>/dev/null | awk '/^Version:/ {print $2}'; }
recent_enough() { # $1 = version; true when >= OPA_VERSION
  [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$OPA_VERSION" "$1" | sort -V | head -n1)" = "$OPA_VERSION" ]
}

if recent_enough "$(version_of .tools/bin/opa)"; then echo "$root/.tools/bin/opa"; exit 0; fi
if command -v opa >/dev/null 2>&1; then
  onpath=$(command -v opa)
  if [ "$onpath" != "$root/.tools/bin/opa" ] && recent_enough "$(version_of "$onpath")"; then
    ln -sf "$onpath" .tools/bin/opa
    echo "$root/.tools/bin/opa"; exit 0
  fi
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
jitgate needs opa $OPA_VERSION or newer, and neither opa nor Go was found.
Install Go (https://go.dev/doc/install) and run this again, or put opa >= $OPA_VERSION on PATH
(https://www.openpolicyagent.org/docs/#running-opa).
MSG
  exit 1
fi
echo "==> installing opa v$OPA_VERSION with go install (first time takes a minute or two)" >&2
GOBIN="$root/.tools/bin" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@v$OPA_VERSION" >&2
echo "$root/.tools/bin/opa"
