#!/usr/bin/env bash
# scripts/kafka.sh start|stop|status: a real Apache Kafka broker (KRaft, combined broker+controller)
# for the tests, from Maven Central jars (deploy/kafka-local/pom.xml; /work/shared/KAFKA.md).
#
# Jars are copied once into .cache/kafka/libs; each start formats a fresh log dir under
# .cache/kafka/data with a new cluster id, on free loopback ports, and waits for
# "Kafka Server started" plus a successful admin metadata call. The bootstrap address goes into
# .cache/testenv.sh as SEGFLOW_TEST_KAFKA_BOOTSTRAP. Stop = SIGTERM, SIGKILL after 30 s.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
. "$(dirname "$0")/_lib.sh"

KAFKA_DIR="$CACHE/kafka"
LIBS="$KAFKA_DIR/libs"
DATA="$KAFKA_DIR/data"
PIDFILE="$KAFKA_DIR/kafka.pid"
LOGFILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
POM="$REPO/deploy/kafka-local/pom.xml"
START_TIMEOUT_S="${SEGFLOW_KAFKA_START_TIMEOUT_S:-180}"
JOPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  "-Dlog4j2.configurationFile=$REPO/deploy/kafka-local/log4j2.properties"
  "-Dkafka.logs.dir=$KAFKA_DIR/logs")

ensure_java_and_maven() {
  local missing=()
  command -v java > /dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn > /dev/null || missing+=(maven)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# Copy the broker's jars from Maven Central (~/.m2 caches the download) unless already there.
ensure_jars() {
  if [ -f "$LIBS/.complete" ] && [ "$LIBS/.complete" -nt "$POM" ]; then
    return 0
  fi
  local t0
  t0="$(now)"
  log "copying Kafka jars from Maven Central into $LIBS"
  rm -rf "$LIBS" "$LIBS.tmp"
  mkdir -p "$KAFKA_DIR"
  mvn -B -q -Dstyle.color=never -f "$POM" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" > "$KAFKA_DIR/mvn.log" 2>&1 \
    || { cat "$KAFKA_DIR/mvn.log" >&2; die "mvn could not copy the Kafka jars"; }
  mv "$LIBS.tmp" "$LIBS"
  touch "$LIBS/.complete"
  log "jars ready ($(find "$LIBS" -name '*.jar' | wc -l) files) in $(elapsed_since "$t0") s"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2> /dev/null || return 1
  # Guard against pid reuse: it must be our java broker.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q 'kafka.Kafka' || return 1
  echo "$pid"
}

write_properties() {
  local port="$1" cport="$2"
  cat > "$PROPS" <<PROPS
# Written by scripts/kafka.sh: single-node KRaft (combined broker + controller) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
auto.create.topics.enable=false
PROPS
}

# One admin metadata round trip: aiokafka (the client the code uses) if the venv exists, else kcat.
admin_metadata_ok() {
  local bootstrap="$1"
  if [ -x "$REPO/.venv/bin/python" ]; then
    "$REPO/.venv/bin/python" - "$bootstrap" > /dev/null 2>&1 <<'PY'
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
    await admin.start()
    try:
        await admin.list_topics()
        await admin.describe_cluster()
    finally:
        await admin.close()

asyncio.run(main())
PY
  else
    kcat -L -b "$bootstrap" -m 5 > /dev/null 2>&1
  fi
}

start() {
  local t0 port cport cid pid deadline
  ensure_java_and_maven
  command -v kcat > /dev/null || apt_install kcat
  ensure_jars
  t0="$(now)"
  if pid="$(running_pid)"; then
    log "a previous test Kafka (pid $pid) is still running; stopping it first"
    stop
  fi
  mkdir -p "$KAFKA_DIR/logs"
  rm -rf "$DATA"
  port="$(free_port)"
  cport="$(free_port)"
  while [ "$cport" = "$port" ]; do cport="$(free_port)"; done
  write_properties "$port" "$cport"
  cid="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"

  java "${JOPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format --standalone -t "$cid" -c "$PROPS" \
    > "$KAFKA_DIR/format.log" 2>&1 || { cat "$KAFKA_DIR/format.log" >&2; die "storage format failed"; }

  : > "$LOGFILE"
  # setsid: its own session, so a Ctrl-C in make does not half-kill it; stop() ends it by pid.
  setsid java "${JOPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" >> "$LOGFILE" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"

  deadline=$(($(date +%s) + START_TIMEOUT_S))
  until grep -q "Kafka Server started" "$LOGFILE"; do
    if ! kill -0 "$pid" 2> /dev/null; then
      tail -n 60 "$LOGFILE" >&2
      die "Kafka exited during start-up (log: $LOGFILE)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 60 "$LOGFILE" >&2
      stop
      die "Kafka did not log 'Kafka Server started' within ${START_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  until admin_metadata_ok "127.0.0.1:$port"; do
    if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$pid" 2> /dev/null; then
      tail -n 60 "$LOGFILE" >&2
      stop
      die "Kafka started but the admin metadata call keeps failing"
    fi
    sleep 0.5
  done
  echo "$port" > "$KAFKA_DIR/port"
  set_env SEGFLOW_TEST_KAFKA_BOOTSTRAP "127.0.0.1:$port"
  log "Kafka $(basename "$(ls "$LIBS"/kafka_2.13-*.jar)" .jar | sed 's/kafka_2.13-//') ready on" \
    "127.0.0.1:$port (controller :$cport, pid $pid) in $(elapsed_since "$t0") s"
}

stop() {
  local pid waited=0
  unset_env SEGFLOW_TEST_KAFKA_BOOTSTRAP
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "Kafka not running"
    return 0
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2> /dev/null; do
    if [ "$waited" -ge 300 ]; then
      log "Kafka (pid $pid) ignored SIGTERM for 30 s; SIGKILL"
      kill -KILL "$pid" 2> /dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  # A background child of an exited shell is reaped by init; wait until /proc forgets it.
  while [ -e "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q 'kafka.Kafka'; do
    sleep 0.1
  done
  rm -f "$PIDFILE" "$KAFKA_DIR/port"
  log "Kafka stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running on 127.0.0.1:$(cat "$KAFKA_DIR/port" 2> /dev/null || echo '?') (pid $pid)"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
