#!/usr/bin/env bash
# The test command (README): installs what is missing, starts the services, builds the binary
# and runs every test; ends with "N passed, N failed" so CI can tell a run that ran nothing.
set -uo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund || exit 1
bash scripts/services.sh || exit 1
bash scripts/test-deps.sh || exit 1

BUN=node_modules/.bin/bun
$BUN scripts/build.ts || exit 1

log=$(mktemp)
$BUN test --timeout 120000 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
# Each failure's own lines again, at the end: a CI log is often read from its tail only.
if [ "$failed" -gt 0 ]; then
  echo "--- failures, as reported above ---"
  # Per failure: its file, then the first 20 and the last 60 lines printed since the test before
  # it (an error's text can hold a whole scheduler log: the assertion is at the start, the stack
  # at the end).
  awk '/^test\/.*:$/ { file = $0; n = 0; next }
       /^\(pass\)|^\(skip\)|^\(todo\)/ { n = 0; next }
       /^\(fail\)/ {
         if (!seen[$0]++) {
           print file
           for (i = 0; i < n; i++) if (i < 20 || i >= n - 60) print lines[i]; else if (i == 20) print "  [...]"
           print $0 "\n"
         }
         n = 0; next }
       { lines[n++] = $0 }' "$log"
fi
rm -f "$log"
echo "${passed} passed, ${failed} failed"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then echo "test: no test ran" >&2; exit 1; fi
exit "$status"
