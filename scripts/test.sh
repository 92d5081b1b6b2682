#!/usr/bin/env bash
# Runs every check and test of jitgate on a fresh machine: installs npm packages, the
# pinned opa, PostgreSQL and Chromium (for the console's browser tests) when missing, then
# type check, lint, policy checks (opa check --strict, opa fmt, opa test with coverage >= 90%)
# and the tap suite.
# Ends with one line `N passed, N failed` summing opa's tests and tap's assertions.
set -uo pipefail
cd "$(dirname "$0")/.."
failures=()
step() { echo; echo "==> $*"; }

step "dependencies"
bash scripts/ensure-deps.sh || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }
OPA=$(bash scripts/ensure-opa.sh) || { echo "opa is not available"; echo "0 passed, 1 failed"; exit 1; }
export JITGATE_OPA="$OPA"
JITGATE_TEST_PG_URL=$(bash scripts/ensure-postgres.sh) || { echo "PostgreSQL is not available"; echo "0 passed, 1 failed"; exit 1; }
export JITGATE_TEST_PG_URL
JITGATE_TEST_CHROMIUM=$(bash scripts/ensure-chromium.sh) || { echo "Chromium is not available"; echo "0 passed, 1 failed"; exit 1; }
export JITGATE_TEST_CHROMIUM

step "build and type check"
npm run --silent build || failures+=("tsc build")
npx tsc --noEmit -p tsconfig.json || failures+=("tsc --noEmit")
npx tsc -p tsconfig.console.json || failures+=("tsc console (browser script)")

step "lint"
npx eslint . || failures+=("eslint")

step "policies: opa check --strict, opa fmt, opa test --coverage"
# jitgate's capabilities (opa/capabilities.json): a builtin the WebAssembly engine lacks fails here, not at request time.
CAPS=opa/capabilities.json
"$OPA" check --strict --capabilities "$CAPS" policies || failures+=("opa check --strict")
unformatted=$("$OPA" fmt --list policies)
if [ -n "$unformatted" ]; then echo "not opa-fmt formatted: $unformatted"; failures+=("opa fmt"); fi
opa_json=$(mktemp)
"$OPA" test --capabilities "$CAPS" policies --format=json > "$opa_json"; opa_rc=$?
read -r opa_pass opa_fail < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8") || "[]");
  let p = 0, f = 0;
  for (const t of r) { if (t.fail || t.error) { f++; console.error("opa test FAIL:", t.package + "." + t.name, t.error ? JSON.stringify(t.error) : ""); } else if (!t.skip) p++; }
  console.log(p, f);' "$opa_json")
echo "opa test: $opa_pass passed, $opa_fail failed"
rm -f "$opa_json"
[ "$opa_rc" = 0 ] || failures+=("opa test")
coverage=$("$OPA" test --capabilities "$CAPS" policies --coverage | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).coverage))')
echo "opa test coverage: ${coverage}%"
node -e 'process.exit(Number(process.argv[1]) >= 90 ? 0 : 1)' "$coverage" || failures+=("policy coverage ${coverage}% < 90%")

step "tap"
tap_out=$(mktemp)
# The tests' temporary folders (gateways' configs, stores, keys, browser profiles: a thousand or
# more a run) go into one folder of this run, removed after it, so runs do not pile up in /tmp.
# Readable by all: a test's PostgreSQL server runs as postgres and keeps its files in there.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-tests.XXXXXX") && chmod 755 "$run_tmp"
TMPDIR="$run_tmp" npx tap --reporter=tap 2>&1 | tee "$tap_out" | grep -E '^(not ok|ok|#)|^    not ok' ; tap_rc=${PIPESTATUS[0]}
rm -rf "$run_tmp"
summary=$(grep -E '^# \{ total:' "$tap_out" | tail -n1)
tap_pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary"); tap_pass=${tap_pass:-0}
tap_fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary"); tap_fail=${tap_fail:-0}
if [ "$tap_rc" != 0 ]; then
  grep -B2 -A25 'not ok' "$tap_out" | head -n 200
  failures+=("tap (exit $tap_rc)")
  [ "$tap_fail" = 0 ] && tap_fail=1
fi

rm -f "$tap_out"
checks_failed=$(( ${#failures[@]} ))
echo
if [ "$checks_failed" -gt 0 ]; then printf 'FAILED: %s\n' "${failures[@]}"; fi
passed=$(( opa_pass + tap_pass ))
failed=$(( opa_fail + tap_fail ))
# A failed check (tsc, lint, fmt, coverage) counts as a failure even when every test passed.
for f in "${failures[@]}"; do case "$f" in "opa test"|tap*) ;; *) failed=$(( failed + 1 ));; esac; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
