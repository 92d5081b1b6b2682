#!/usr/bin/env bash
# Starts the jitgate demo in the foreground (Ctrl-C stops it): installs npm packages and the
# pinned opa when missing, builds, then runs the gateway with the sample policies, the
# embedded SQLite store under ./data, a demo upstream API and the development token issuer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if OPA=$(bash scripts/ensure-opa.sh); then
  export JITGATE_OPA="$OPA"
else
  echo "opa is not available: the demo serves the committed bundle (bundles/jitgate.tar.gz); policy hot reload is off." >&2
fi
echo "==> building" >&2
npm run --silent build
exec node bin/jitgate.js demo --config opa.config.yaml "$@"
