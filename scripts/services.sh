#!/usr/bin/env bash
# Starts the local PostgreSQL and RabbitMQ when they are installed but stopped, and waits until
# both accept connections. Used by scripts/dev.sh, scripts/test.sh and .ci/run.
set -euo pipefail

pg_ready() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
mq_ready() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

wait_for() { # name, probe
  for _ in $(seq 1 120); do "$2" && return 0; sleep 0.5; done
  echo "services: $1 did not start listening within 60 s" >&2; return 1
}

if ! pg_ready; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "services: PostgreSQL is not running on 127.0.0.1:5432 and not installed here; install it (apt-get install postgresql) or point POSTGRES_HOST at one" >&2
    exit 1
  fi
  wait_for PostgreSQL pg_ready
fi

if ! mq_ready; then
  if command -v rabbitmq-server >/dev/null; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "services: RabbitMQ is not running on 127.0.0.1:5672 and not installed here; install it (apt-get install rabbitmq-server) or point RABBITMQ_HOST at one" >&2
    exit 1
  fi
  wait_for RabbitMQ mq_ready
fi
# A listening RabbitMQ may still be booting its applications; wait until it answers the protocol.
if command -v rabbitmqctl >/dev/null; then
  for _ in $(seq 1 60); do rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
fi
