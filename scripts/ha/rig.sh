#!/usr/bin/env bash
# A local rig of real clusters for the high-availability tests (test/ha/): a PostgreSQL 15 primary with a hot
# standby by streaming replication, and three clustered RabbitMQ nodes, all on ports of their own
# and with state under $HA_DIR. See scripts/ha/README.md for the verbs.
#
# THIS MACHINE'S SHARED SERVICES (PostgreSQL 5432, RabbitMQ 5672/25672/15672, the node
# rabbit@localhost, epmd on 4369) ARE USED BY OTHER TESTS AT THE SAME TIME: nothing here may bind,
# stop or address them. Every rabbitmqctl call passes -n with one of our node names, every pg_ctl
# call -D with one of our data directories, and every kill a pid read from our own state.
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/rune-ha}
PG_PORTS=("${HA_PG_PORT:-55432}" "$((${HA_PG_PORT:-55432} + 1))")
MQ_PORTS=("${HA_MQ_PORT:-5681}" "$((${HA_MQ_PORT:-5681} + 1))" "$((${HA_MQ_PORT:-5681} + 2))")
# Set explicitly: RabbitMQ's default distribution port is AMQP + 20000, and the shared node owns
# 25672; ours sit at 25681.. beside it.
MQ_DIST_PORTS=("${HA_MQ_DIST_PORT:-25681}" "$((${HA_MQ_DIST_PORT:-25681} + 1))" "$((${HA_MQ_DIST_PORT:-25681} + 2))")
PG_BIN=/usr/lib/postgresql/15/bin # Debian keeps the server programs off PATH
RMQ_BIN=/usr/lib/rabbitmq/bin     # not /usr/sbin: that wrapper re-runs itself through su, dropping our environment
RMQ_HOME=/var/lib/rabbitmq        # holds the system's Erlang cookie, which the CLI finds through HOME
SHARED_PORTS=" 4369 5432 5672 15672 15692 25672 "
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# A pid counts as alive until it has exited: a killed server's pid stays a zombie until init
# reaps it, and kill -0 (or pg_ctl status) would still call that running.
pid_alive() { [[ -n ${1:-} ]] && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) =~ ^[^ZX]$ ]]; }

die() { echo "rig: $*" >&2; exit 1; }
say() { echo "rig: $*" >&2; }

for p in "${PG_PORTS[@]}" "${MQ_PORTS[@]}" "${MQ_DIST_PORTS[@]}"; do
  [[ $SHARED_PORTS == *" $p "* ]] && die "port $p belongs to a shared service on this machine; choose other HA_*_PORT values"
done
[[ $(id -u) == 0 ]] || die "run as root: the servers run as the postgres and rabbitmq users"

# ---------------------------------------------------------------- PostgreSQL

pg_dir() { echo "$HA_DIR/pg/$1"; } # node 1 or 2; which one is primary changes with failovers
pg_port() { echo "${PG_PORTS[$(($1 - 1))]}"; }
as_pg() { runuser -u postgres -- "$@"; }
psql_at() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -h 127.0.0.1 -p "$1" -U postgres -v ON_ERROR_STOP=1 "${@:2}"; }

# "primary", "standby" or "down", as the server itself says (pg_is_in_recovery).
pg_role() {
  local r
  r=$(PGCONNECT_TIMEOUT=2 psql_at "$(pg_port "$1")" -d postgres -tAc 'SELECT pg_is_in_recovery()' 2>/dev/null) || { echo down; return; }
  [[ $r == f ]] && echo primary || echo standby
}
pg_node_with_role() {
  local n
  for n in 1 2; do [[ $(pg_role "$n") == "$1" ]] && { echo "$n"; return; }; done
  return 1
}
# Returns once node $1's standby streams from primary node $2 and has replayed all the primary had
# written when asked. A standby promoted before that can fail its promotion: one promoted 0.2 s
# after pg_rewind PANICked ("invalid record length") and stayed down.
pg_wait_streaming() {
  local target i
  target=$(psql_at "$(pg_port "$2")" -d postgres -tAc 'SELECT pg_current_wal_lsn()')
  for ((i = 0; i < 300; i++)); do
    [[ $(psql_at "$(pg_port "$2")" -d postgres -tAc "SELECT count(*) FROM pg_stat_replication
      WHERE state = 'streaming' AND replay_lsn >= '$target' AND client_port IS NOT NULL") -gt 0 ]] && return 0
    sleep 0.1
  done
  die "node $1 is not streaming from node $2 after 30 s: see $HA_DIR/pg/$1.log"
}

# pid of a node's postmaster, from its own postmaster.pid, or nothing.
pg_pid() { head -1 "$(pg_dir "$1")/postmaster.pid" 2>/dev/null || true; }
pg_running() { pid_alive "$(pg_pid "$1")"; }
# A killed postmaster's pid file and socket lock are stale, but until init reaps its zombie,
# PostgreSQL (which asks kill -0) takes them for a live server and refuses to start or be rewound.
pg_clear_stale_pid() {
  pg_running "$1" && return 0
  rm -f "$(pg_dir "$1")/postmaster.pid" "$HA_DIR/pg/.s.PGSQL.$(pg_port "$1")" "$HA_DIR/pg/.s.PGSQL.$(pg_port "$1").lock"
}

# The port and socket directory are given on the command line, not in postgresql.conf, because
# pg_basebackup and pg_rewind copy the other node's configuration files over ours.
pg_start() {
  pg_running "$1" && return 0
  pg_clear_stale_pid "$1"
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_dir "$1")" -l "$HA_DIR/pg/$1.log" -w -t 60 \
    -o "-p $(pg_port "$1") -k $HA_DIR/pg" start >/dev/null
}

pg_init_primary() {
  local dir
  dir=$(pg_dir 1)
  # Data checksums and wal_log_hints both let pg_rewind turn an old primary into a standby.
  as_pg "$PG_BIN/initdb" -D "$dir" --auth=trust --data-checksums -U postgres >/dev/null
  cat >>"$dir/postgresql.conf" <<'CONF'
# rune-scheduler HA rig (scripts/ha/rig.sh)
listen_addresses = '127.0.0.1'
wal_log_hints = on
# Enough WAL kept for a rejoined node to catch up by streaming alone, without a slot.
wal_keep_size = '256MB'
hot_standby = on
shared_buffers = '32MB'
max_connections = 200
CONF
  pg_start 1
  psql_at "$(pg_port 1)" -d postgres -c 'CREATE DATABASE rune'
  psql_at "$(pg_port 1)" -d rune -f "$REPO/scripts/schema.sql" >/dev/null
}

# A fresh standby of node $2 in node $1's directory (-R writes standby.signal and primary_conninfo).
pg_clone() {
  rm -rf "$(pg_dir "$1")"
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(pg_port "$2")" -U postgres -D "$(pg_dir "$1")" \
    -R -X stream -c fast
  pg_start "$1"
  pg_wait_streaming "$1" "$2"
}

# The postmaster and every backend at once, as when its host dies: nothing gets to write a
# shutdown checkpoint or say goodbye to a client.
pg_kill_primary() {
  local n main children pid
  n=$(pg_node_with_role primary) || die "no primary is running"
  main=$(pg_pid "$n")
  children=$(pgrep -P "$main" || true)
  # shellcheck disable=SC2086 # one pid a word
  kill -9 "$main" $children
  for pid in "$main" $children; do while pid_alive "$pid"; do sleep 0.02; done; done
  echo "killed primary node $n (port $(pg_port "$n"), pid $main and its $(wc -w <<<"$children") children)"
}

pg_promote() {
  local n
  n=$(pg_node_with_role standby) || die "no standby is running"
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_dir "$n")" -w promote >/dev/null
  echo "promoted node $n (port $(pg_port "$n"))"
}

# The node that is not running becomes a standby of the primary: pg_rewind when its history can be
# rewound, otherwise a fresh base backup.
pg_rejoin() {
  local p n src
  p=$(pg_node_with_role primary) || die "no primary is running"
  n=$((3 - p))
  if pg_running "$n"; then
    [[ $(pg_role "$n") == standby ]] && { echo "node $n is already a standby"; return; }
    as_pg "$PG_BIN/pg_ctl" -D "$(pg_dir "$n")" -m fast -w stop >/dev/null
  fi
  # pg_rewind reads the source's timeline from its control file, which a promotion only updates at
  # its first checkpoint; without this a fresh promotion looks like "same timeline, nothing to do".
  psql_at "$(pg_port "$p")" -d postgres -c CHECKPOINT
  src="host=127.0.0.1 port=$(pg_port "$p") user=postgres dbname=postgres"
  rm -f "$(pg_dir "$n")/standby.signal"
  pg_clear_stale_pid "$n"
  if as_pg "$PG_BIN/pg_rewind" -D "$(pg_dir "$n")" --source-server="$src" -R >"$HA_DIR/pg/rewind.log" 2>&1; then
    pg_start "$n"
    pg_wait_streaming "$n" "$p"
    echo "node $n (port $(pg_port "$n")) rewound, now a standby of node $p"
  else
    say "pg_rewind failed (see $HA_DIR/pg/rewind.log); taking a fresh base backup"
    pg_clone "$n" "$p"
    echo "node $n (port $(pg_port "$n")) rebuilt, now a standby of node $p"
  fi
}

# A planned failover (or failback): the primary stops cleanly, so nothing is lost and its WAL is
# all on the standby, which is promoted; the old primary then rejoins as a standby.
pg_switchover() {
  local p
  p=$(pg_node_with_role primary) || die "no primary is running"
  pg_node_with_role standby >/dev/null || die "no standby is running"
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_dir "$p")" -m fast -w stop >/dev/null
  pg_promote
  pg_rejoin
}

pg_roles() {
  local n
  for n in 1 2; do echo "pg node $n 127.0.0.1:$(pg_port "$n") $(pg_role "$n")"; done
}

# ---------------------------------------------------------------- RabbitMQ

mq_name() { echo "rune-ha-$1@localhost"; }
mq_dir() { echo "$HA_DIR/mq/$1"; }
# Everything a node and the CLI need, as RABBITMQ_* variables, so neither reads the system's
# rabbitmq.conf (a listener on 5672) or rabbitmq-env.conf (NODENAME=rabbit@localhost, the shared node).
mq_env() {
  local d
  d=$(mq_dir "$1")
  MQ_ENV=(HOME="$RMQ_HOME" RABBITMQ_NODENAME="$(mq_name "$1")" RABBITMQ_NODE_PORT="${MQ_PORTS[$(($1 - 1))]}"
    RABBITMQ_DIST_PORT="${MQ_DIST_PORTS[$(($1 - 1))]}" RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/beam.pid"
    ERL_EPMD_ADDRESS=127.0.0.1 "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
}
as_mq() {
  local n=$1
  shift
  mq_env "$n"
  (cd "$RMQ_HOME" && env "${MQ_ENV[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$@")
}
ctl() { local n=$1; shift; as_mq "$n" "$RMQ_BIN/rabbitmqctl" -n "$(mq_name "$n")" "$@"; }
mq_pid() { cat "$(mq_dir "$1")/beam.pid" 2>/dev/null || true; }
mq_alive() { pid_alive "$(mq_pid "$1")"; }

mq_prepare() {
  local d
  d=$(mq_dir "$1")
  mkdir -p "$d/mnesia" "$d/log"
  cat >"$d/rabbitmq.conf" <<CONF
# rune-scheduler HA rig node $1 (scripts/ha/rig.sh): its own listener, nothing on 5672
listeners.tcp.local = 127.0.0.1:${MQ_PORTS[$(($1 - 1))]}
loopback_users = none
# A hung node is declared down after about this long (the default, 60 s, keeps a quorum queue
# whose leader hangs from confirming anything for as long): see scripts/ha/README.md.
net_ticktime = ${HA_NET_TICKTIME:-10}
# A node declared down that comes back (a thawed freeze) finds itself partitioned: it pauses
# while it sees only a minority, then rejoins. The default (ignore) leaves the partition in place.
cluster_partition_handling = pause_minority
CONF
  : >"$d/rabbitmq-env.conf"
  echo '[].' >"$d/enabled_plugins" # no management plugin, so nothing tries to bind 15672
  chown -R rabbitmq:rabbitmq "$d"
}

# Starts the node if it is not running; returns at once (mq_wait waits for it).
mq_launch() {
  mq_alive "$1" && return 0
  rm -f "$(mq_dir "$1")/beam.pid"
  # setsid: the node outlives this shell and is not hit by a Ctrl-C meant for it.
  as_mq "$1" setsid "$RMQ_BIN/rabbitmq-server" >>"$(mq_dir "$1")/log/startup.log" 2>&1 </dev/null &
}
diag() { local n=$1; shift; as_mq "$n" "$RMQ_BIN/rabbitmq-diagnostics" -n "$(mq_name "$n")" "$@"; }
queues() { local n=$1; shift; as_mq "$n" "$RMQ_BIN/rabbitmq-queues" -n "$(mq_name "$n")" "$@"; }
# await_startup fails at once while the new node has not registered with epmd yet, so it is asked
# again until the node answers, for as long as the node's process lives.
mq_wait() {
  local i
  for ((i = 0; i < 300; i++)); do
    ctl "$1" -q await_startup --timeout 60 >/dev/null 2>&1 && return 0
    mq_alive "$1" || [[ $i -lt 25 ]] || die "node $1 exited while starting: see $(mq_dir "$1")/log"
    sleep 0.2
  done
  die "node $1 did not start in 60 s: see $(mq_dir "$1")/log"
}
# The rabbit application answers (a booting or stopped_app node does not), within a few seconds.
mq_answers() { mq_alive "$1" && timeout 5 "$0" _diag "$1" -q -t 4 check_running >/dev/null 2>&1; }

mq_stop() {
  local pid
  pid=$(mq_pid "$1")
  [[ -n $pid ]] && kill -CONT "$pid" 2>/dev/null || true # a frozen node cannot answer stop
  timeout 30 "$0" _ctl "$1" -q stop >/dev/null 2>&1 || true
  if pid_alive "$pid"; then kill -9 "$pid"; fi
  while pid_alive "$pid"; do sleep 0.05; done
  rm -f "$(mq_dir "$1")/beam.pid"
}

mq_signal() {
  local pid
  pid=$(mq_pid "$2")
  [[ -n $pid ]] || die "node $2 is not running"
  kill "-$1" "$pid"
}

# The first node that answers within a few seconds (a frozen or stopped one does not).
mq_any_node() {
  local n
  for n in 1 2 3; do
    mq_answers "$n" && { echo "$n"; return; }
  done
  return 1
}

# "N NODE term=T members=NODE:STATE,…" as the queue's Raft members report themselves; N is our
# node number, for scripts. quorum_status asks the members themselves, so it answers (a frozen
# member shows as "timeout") where list_queues would wait on the frozen node and time out.
mq_leader() {
  local n status leader
  n=$(mq_any_node) || die "no RabbitMQ node answers"
  status=$(queues "$n" -q -t 15 --formatter json quorum_status "$1") || die "quorum_status $1 failed on node $n"
  leader=$(grep '"Raft State":"leader"' <<<"$status" | sed 's/.*"Node Name":"\([^"]*\)".*"Term":\([0-9]*\).*/\1 term=\2/' | head -1 || true)
  # 0: no member calls itself leader (an election is under way, or the quorum is lost)
  [[ -n $leader ]] && leader="${leader:8:1} $leader" || leader="0 none"
  echo "$leader members=$(grep -o '"Node Name":"[^"]*","Raft State":"[^"]*"' <<<"$status" |
    sed 's/"Node Name":"\([^"]*\)","Raft State":"\([^"]*\)"/\1:\2/' | paste -sd,)"
}

mq_state() {
  local pid
  pid=$(mq_pid "$1")
  if ! pid_alive "$pid"; then echo stopped
  elif [[ $(ps -o stat= -p "$pid") == T* ]]; then echo "frozen (pid $pid)"
  elif mq_answers "$1"; then echo "running (pid $pid)"
  else echo "not answering (pid $pid)"
  fi
}

# ---------------------------------------------------------------- the verbs

up() {
  local start=$SECONDS n out
  mkdir -p "$HA_DIR/pg"
  chown postgres:postgres "$HA_DIR/pg"
  # RabbitMQ first: its three nodes boot in the background while PostgreSQL is set up.
  for n in 1 2 3; do [[ -d $(mq_dir "$n") ]] || mq_prepare "$n"; mq_launch "$n"; done
  if [[ ! -d $(pg_dir 1) ]]; then
    pg_init_primary
    pg_clone 2 1
  else
    pg_start 1 || say "node 1 did not start: see $HA_DIR/pg/1.log"
    pg_start 2 || say "node 2 did not start: see $HA_DIR/pg/2.log"
  fi
  for n in 1 2 3; do mq_wait "$n"; done
  if [[ ! -f $HA_DIR/mq/clustered ]]; then
    # join_cluster prints harmless "[error] Failed to create a tracked connection table" lines
    # on success in 3.10; they are shown only if a step fails.
    for n in 2 3; do
      out=$({ ctl "$n" -q stop_app && ctl "$n" -q join_cluster "$(mq_name 1)" && ctl "$n" -q start_app; } 2>&1) ||
        die "node $n could not join $(mq_name 1): $out"
    done
    touch "$HA_DIR/mq/clustered"
  fi
  say "up in $((SECONDS - start)) s"
  status
}

down() {
  local n pid left
  for n in 1 2 3; do [[ -d $(mq_dir "$n") ]] && mq_stop "$n"; done
  for n in 1 2; do
    if [[ -f $(pg_dir "$n")/postmaster.pid ]]; then
      as_pg "$PG_BIN/pg_ctl" -D "$(pg_dir "$n")" -m immediate -w stop >/dev/null 2>&1 || true
      pid=$(pg_pid "$n")
      if pid_alive "$pid"; then kill -9 "$pid"; fi
    fi
  done
  # Anything still running from our state directory is ours (e.g. a backend slow to notice its
  # postmaster is gone): name it, and end it by its pid.
  left=$(pgrep -f -- "$HA_DIR/" || true)
  for pid in $left; do say "ending leftover pid $pid: $(ps -o args= -p "$pid" || true)"; kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$HA_DIR"
  say "down: stopped and removed $HA_DIR"
}

status() {
  local n
  pg_roles
  for n in 1 2 3; do echo "mq node $n $(mq_name "$n") 127.0.0.1:${MQ_PORTS[$((n - 1))]} $(mq_state "$n")"; done
}

# What to point the scheduler at: every DB host (the read-write one is chosen at each connect)
# and every broker node (tried in turn).
print_env() {
  local urls=() p
  for p in "${MQ_PORTS[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$p"); done
  echo "DATABASE_URL=postgres://postgres:postgres@127.0.0.1:${PG_PORTS[0]},127.0.0.1:${PG_PORTS[1]}/rune?target_session_attrs=read-write"
  echo "RABBITMQ_URL=$(IFS=,; echo "${urls[*]}")"
  echo "RABBITMQ_QUEUE_TYPE=quorum"
}

# N schedules every second, due now, on one workflow: the load of the tests in test/ha/.
seed() {
  local n
  [[ $1 =~ ^[0-9]+$ ]] || die "expected a number of schedules"
  n=$(pg_node_with_role primary) || die "no primary is running"
  psql_at "$(pg_port "$n")" -d rune -tAc "WITH w AS (INSERT INTO workflows (name, workflow_data)
      VALUES ('ha-seed', '{\"rig\": true}') RETURNING id)
    INSERT INTO scheduled_workflows (workflow_id, next_run_at, interval_seconds)
      SELECT w.id, now() AT TIME ZONE 'UTC', 1 FROM w, generate_series(1, $1)" >/dev/null
  echo "seeded $1 schedules every 1 s"
}

usage() {
  cat <<'USAGE'
usage: scripts/ha/rig.sh VERB [ARG]
  up | down | status | env
  seed N                      N schedules every second, due now
  pg-roles | pg-kill-primary | pg-promote | pg-rejoin | pg-switchover | pg-start N | pg-psql [psql args]
  mq-stop N | mq-start N | mq-kill N | mq-freeze N | mq-thaw N | mq-leader QUEUE | mq-ctl N ARGS...
State in $HA_DIR (default /tmp/rune-ha); ports from HA_PG_PORT, HA_MQ_PORT, HA_MQ_DIST_PORT.
USAGE
}

node_arg() { [[ ${1:-} =~ ^[123]$ ]] || die "expected a RabbitMQ node number 1, 2 or 3, got \"${1:-}\""; echo "$1"; }

verb=${1:-}
shift || true
case $verb in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  pg-roles) pg_roles ;;
  pg-kill-primary) pg_kill_primary ;;
  pg-promote) pg_promote ;;
  pg-rejoin) pg_rejoin ;;
  pg-switchover) pg_switchover ;;
  pg-start) [[ ${1:-} =~ ^[12]$ ]] || die "expected a PostgreSQL node number 1 or 2"; pg_start "$1"; echo "started node $1 as $(pg_role "$1")" ;;
  seed) seed "${1:-}" ;;
  pg-psql) n=$(pg_node_with_role primary) || die "no primary is running"; psql_at "$(pg_port "$n")" -d rune "$@" ;;
  mq-stop) n=$(node_arg "${1:-}"); mq_stop "$n"; echo "stopped $(mq_name "$n")" ;;
  mq-start) n=$(node_arg "${1:-}"); mq_launch "$n"; mq_wait "$n"; echo "started $(mq_name "$n")" ;;
  mq-kill) n=$(node_arg "${1:-}"); mq_signal KILL "$n"; echo "killed $(mq_name "$n")" ;;
  mq-freeze) n=$(node_arg "${1:-}"); mq_signal STOP "$n"; echo "froze $(mq_name "$n")" ;;
  mq-thaw) n=$(node_arg "${1:-}"); mq_signal CONT "$n"; echo "thawed $(mq_name "$n")" ;;
  mq-leader) [[ -n ${1:-} ]] || die "expected a queue name"; mq_leader "$1" ;;
  mq-ctl) n=$(node_arg "${1:-}"); shift; ctl "$n" "$@" ;;
  # internal: let `timeout` bound one CLI call
  _ctl) n=$1; shift; ctl "$n" "$@" ;;
  _diag) n=$1; shift; diag "$n" "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
