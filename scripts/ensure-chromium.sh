#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser tests, installing Debian's package
# when it is missing. JITGATE_TEST_CHROMIUM, when set, is used as is.
set -euo pipefail
if [ -n "${JITGATE_TEST_CHROMIUM:-}" ]; then echo "$JITGATE_TEST_CHROMIUM"; exit 0; fi
if ! [ -x /usr/bin/chromium ]; then
  echo "==> installing Chromium from Debian's packages" >&2
  if [ "$(id -u)" != 0 ]; then echo "Chromium is not installed; run as root or install the 'chromium' package" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
fi
echo /usr/bin/chromium
