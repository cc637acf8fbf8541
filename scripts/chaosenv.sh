#!/usr/bin/env bash
# scripts/chaosenv.sh up|down|status|kill-kafka|start-kafka|stop-pg [fast|immediate]|start-pg|run CMD...
#
# A PRIVATE PostgreSQL + Kafka for the fault suite (tests/chaos), which kills and restarts them: state
# under .cache/chaos/ (SEGFLOW_CACHE_DIR for scripts/pg.sh and kafka.sh), env file
# .cache/chaos/testenv.sh. The shared test parts under .cache/ are never touched.
#   up / down          start both (fresh) / stop both and remove their data
#   kill-kafka         SIGKILL the broker (a crash); start-kafka restarts it on the SAME port and log dir
#   stop-pg [mode]     pg_ctl stop -m immediate (default, a crash) or fast; start-pg restarts it, same port
#   run CMD...         up, run CMD with the env file loaded, ALWAYS down afterwards; exits with CMD's status
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export SEGFLOW_CACHE_DIR="${SEGFLOW_CHAOS_CACHE_DIR:-$REPO/.cache/chaos}"
# shellcheck source=scripts/_lib.sh
. "$REPO/scripts/_lib.sh"

KAFKA_DIR="$CACHE/kafka"
PIDFILE="$KAFKA_DIR/kafka.pid"
LOGFILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
SHARED_LIBS="$REPO/.cache/kafka/libs"
PG_STATE="$CACHE/pg"
JOPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  "-Dlog4j2.configurationFile=$REPO/deploy/kafka-local/log4j2.properties"
  "-Dkafka.logs.dir=$KAFKA_DIR/logs")

# Reuse the jars the shared broker already copied (hard links; kafka.sh copies them itself otherwise).
seed_jars() {
  [ -f "$KAFKA_DIR/libs/.complete" ] && return 0
  [ -f "$SHARED_LIBS/.complete" ] || return 0
  mkdir -p "$KAFKA_DIR"
  rm -rf "$KAFKA_DIR/libs"
  cp -al "$SHARED_LIBS" "$KAFKA_DIR/libs" 2> /dev/null || cp -r "$SHARED_LIBS" "$KAFKA_DIR/libs"
  touch "$KAFKA_DIR/libs/.complete"
}

kafka_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2> /dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q 'kafka.Kafka' || return 1
  echo "$pid"
}

kill_kafka() {
  local pid
  pid="$(kafka_pid)" || die "chaos Kafka is not running"
  kill -KILL "$pid"
  while [ -e "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q 'kafka.Kafka'; do
    sleep 0.05
  done
  log "Kafka SIGKILLed (pid $pid)"
}

start_kafka() {
  local pid from deadline port
  [ -f "$PROPS" ] || die "no $PROPS: run '$0 up' first"
  if pid="$(kafka_pid)"; then
    log "Kafka already running (pid $pid)"
    return 0
  fi
  port="$(cat "$KAFKA_DIR/port")"
  from=$(($(wc -l < "$LOGFILE") + 1))
  setsid java "${JOPTS[@]}" -cp "$KAFKA_DIR/libs/*" kafka.Kafka "$PROPS" >> "$LOGFILE" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"
  deadline=$(($(date +%s) + 180))
  # grep reads to the end (no -q): an early exit would SIGPIPE tail and, under pipefail, fail the test
  until tail -n "+$from" "$LOGFILE" | grep "Kafka Server started" > /dev/null; do
    kill -0 "$pid" 2> /dev/null || { tail -n 40 "$LOGFILE" >&2; die "Kafka exited during restart"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "Kafka did not restart within 180 s"
    sleep 0.2
  done
  log "Kafka restarted on 127.0.0.1:$port (pid $pid, same log dir)"
}

pg_bindir() { dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)"; }
pg_ctl_() { (cd / && runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$(cat "$PG_STATE/cluster.path")/data" "$@"); }

stop_pg() {
  pg_ctl_ -m "${1:-immediate}" -w -t 60 stop > /dev/null
  log "PostgreSQL stopped (-m ${1:-immediate})"
}

start_pg() {
  local dir
  dir="$(cat "$PG_STATE/cluster.path")"
  pg_ctl_ -l "$dir/postgres.log" -w -t 120 start > /dev/null || { tail -n 40 "$dir/postgres.log" >&2; die "pg restart failed"; }
  log "PostgreSQL restarted on 127.0.0.1:$(cat "$PG_STATE/port")"
}

up() {
  mkdir -p "$CACHE"
  seed_jars
  "$REPO/scripts/pg.sh" start
  # pg.sh trades durability for speed (fsync/synchronous_commit off); a crash test needs the real
  # guarantee: a commit the service saw must survive `stop-pg immediate`.
  (cd / && runuser -u postgres -- tee -a "$(cat "$PG_STATE/cluster.path")/data/postgresql.conf" > /dev/null) <<'CONF'
# --- scripts/chaosenv.sh: durable commits for the crash tests ---
fsync = on
synchronous_commit = on
CONF
  pg_ctl_ reload > /dev/null
  "$REPO/scripts/kafka.sh" start || { "$REPO/scripts/pg.sh" clean; exit 1; }
  log "chaos parts up; env in $TESTENV_FILE"
}

down() {
  "$REPO/scripts/kafka.sh" stop || true
  "$REPO/scripts/pg.sh" clean || true
  rm -rf "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
}

run() {
  [ $# -gt 0 ] || die "usage: $0 run CMD [ARGS...]"
  local child="" rc
  trap 'down' EXIT
  trap '[ -n "$child" ] && kill -TERM "$child" 2> /dev/null; wait "$child" 2> /dev/null; exit 130' INT
  trap '[ -n "$child" ] && kill -TERM "$child" 2> /dev/null; wait "$child" 2> /dev/null; exit 143' TERM
  up
  set -a
  # shellcheck source=/dev/null
  . "$TESTENV_FILE"
  set +a
  export SEGFLOW_CHAOSENV="$0"
  set +e
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  set -e
  exit "$rc"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up ;;
  down) down ;;
  status) "$REPO/scripts/pg.sh" status || true; "$REPO/scripts/kafka.sh" status || true ;;
  kill-kafka) kill_kafka ;;
  start-kafka) start_kafka ;;
  stop-pg) stop_pg "$@" ;;
  start-pg) start_pg ;;
  run) run "$@" ;;
  *) echo "usage: $0 up|down|status|kill-kafka|start-kafka|stop-pg [fast|immediate]|start-pg|run CMD..." >&2; exit 2 ;;
esac
