#!/usr/bin/env bash
# Quickstart: installs what is missing, starts local PostgreSQL and RabbitMQ if they are installed
# but stopped, writes ./.env (never over an existing one) so every command run from here finds
# them, creates the database, the reference schema and the NOTIFY trigger, builds the binary and
# runs the scheduler. Any variable already set in the environment wins, over .env as well.
#
#   scripts/dev.sh [run flags…]   all of it, then `rune-scheduler run [run flags…]`
#   scripts/dev.sh --no-run       all but the run: prints the next commands to try
#   scripts/dev.sh --setup-only   .env and database only (no build, no run)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
case "${1:-}" in
  --setup-only) mode=setup; shift ;;
  --no-run) mode=build; shift ;;
esac

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
bash scripts/services.sh

if [ -e .env ]; then
  echo "dev.sh: .env exists; leaving it as it is (delete it for a fresh one); every command run from here reads it"
else
  cat >.env <<EOF
# Written by scripts/dev.sh for local development; rune-scheduler reads ./.env from the working
# directory, and the real environment wins over it. dev.sh never overwrites this file.
POSTGRES_HOST=${POSTGRES_HOST:-127.0.0.1}
POSTGRES_DB=${POSTGRES_DB:-rune}
RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1}
SCHEDULER_NOTIFY_CHANNEL=${SCHEDULER_NOTIFY_CHANNEL:-rune_schedules}
EOF
  echo "dev.sh: wrote $(pwd)/.env (POSTGRES_HOST, POSTGRES_DB, RABBITMQ_HOST, SCHEDULER_NOTIFY_CHANNEL)"
fi

# The database, the tables and the trigger, with the scheduler's own config reader and driver
# (so no psql is needed, and they land where the binary will look).
node_modules/.bin/bun scripts/init-db.ts

[ "$mode" = setup ] && exit 0

node_modules/.bin/bun scripts/build.ts

# The operator console, on with a token made for this run (the environment wins over .env, and
# the scheduler scrubs the token from its own log). Set SCHEDULER_CONSOLE_TOKEN to keep one.
if [ -z "${SCHEDULER_CONSOLE_TOKEN:-}" ] && ! grep -qs '^SCHEDULER_CONSOLE_TOKEN=' .env; then
  SCHEDULER_CONSOLE_TOKEN="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
  export SCHEDULER_CONSOLE_TOKEN
fi
console_token="${SCHEDULER_CONSOLE_TOKEN:-$(sed -n 's/^SCHEDULER_CONSOLE_TOKEN=//p' .env | tail -n 1)}"
console_port="${SCHEDULER_HTTP_PORT:-$(sed -n 's/^SCHEDULER_HTTP_PORT=//p' .env | tail -n 1)}"
cat <<EOF

dev.sh: the operator console: http://127.0.0.1:${console_port:-8080}/console/
  token (paste it when the page asks; kept for that tab only): ${console_token}
EOF
cat <<'EOF'

dev.sh: ready. In another shell, from this directory, try:
  ./dist/rune-scheduler check-db
  node_modules/.bin/bun scripts/try.ts hello    # adds a schedule due now, every 60 s (README "Try it")
  ./dist/rune-scheduler stats
EOF
[ "$mode" = build ] && exit 0
echo
exec ./dist/rune-scheduler run "$@"
