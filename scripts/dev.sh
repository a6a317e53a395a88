#!/usr/bin/env bash
# Quickstart: installs what is missing, starts local PostgreSQL and RabbitMQ if they are installed
# but stopped, creates the database and the reference schema if missing, builds the binary and
# runs the scheduler against them. Any variable already set in the environment wins.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x node_modules/.bin/bun ] || npm ci --no-audit --no-fund
bash scripts/services.sh

export POSTGRES_HOST="${POSTGRES_HOST:-127.0.0.1}" POSTGRES_DB="${POSTGRES_DB:-rune}"
export RABBITMQ_HOST="${RABBITMQ_HOST:-127.0.0.1}"
# Create the database and the tables with the scheduler's own driver, so no psql is needed.
node_modules/.bin/bun scripts/init-db.ts

node_modules/.bin/bun scripts/build.ts
exec ./dist/rune-scheduler run "$@"
