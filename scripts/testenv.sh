#!/usr/bin/env bash
# scripts/testenv.sh up|down: the real parts the tests run against.
#
# up: installs Debian's kcat and chromium when missing, then starts PostgreSQL (scripts/pg.sh) and
# Kafka (scripts/kafka.sh), unless SEGFLOW_DATABASE_URL / SEGFLOW_KAFKA_BOOTSTRAP name running ones,
# which are then used as the test URLs. Writes .cache/testenv.sh (SEGFLOW_TEST_DATABASE_URL,
# SEGFLOW_TEST_KAFKA_BOOTSTRAP) and remembers what it started in .cache/testenv.started.
# down: stops exactly what `up` started.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
. "$(dirname "$0")/_lib.sh"

STARTED="$CACHE/testenv.started"

ensure_test_tools() {
  local missing=()
  command -v kcat > /dev/null || missing+=(kcat)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# postgresql:// and postgres:// URLs become the asyncpg dialect the code uses.
asyncpg_url() {
  case "$1" in
    postgresql+asyncpg://*) echo "$1" ;;
    postgresql://*) echo "postgresql+asyncpg://${1#postgresql://}" ;;
    postgres://*) echo "postgresql+asyncpg://${1#postgres://}" ;;
    *) echo "$1" ;;
  esac
}

up() {
  mkdir -p "$CACHE"
  if [ -s "$STARTED" ]; then
    log "a previous run left parts running; stopping them first"
    down
  fi
  printf '# Written by scripts/testenv.sh up; source it to reach the test PostgreSQL and Kafka.\n' \
    > "$TESTENV_FILE"
  : > "$STARTED"
  ensure_test_tools

  if [ -n "${SEGFLOW_DATABASE_URL:-}" ]; then
    log "using SEGFLOW_DATABASE_URL for the tests"
    set_env SEGFLOW_TEST_DATABASE_URL "$(asyncpg_url "$SEGFLOW_DATABASE_URL")"
  else
    echo pg >> "$STARTED"
    "$REPO/scripts/pg.sh" start
  fi

  if [ -n "${SEGFLOW_KAFKA_BOOTSTRAP:-}" ]; then
    log "using SEGFLOW_KAFKA_BOOTSTRAP for the tests"
    set_env SEGFLOW_TEST_KAFKA_BOOTSTRAP "$SEGFLOW_KAFKA_BOOTSTRAP"
  else
    echo kafka >> "$STARTED"
    "$REPO/scripts/kafka.sh" start
  fi
}

down() {
  local status=0 part
  [ -f "$STARTED" ] || return 0
  # Reverse order of start; keep going when one stop fails so nothing is left behind.
  for part in $(tac "$STARTED"); do
    "$REPO/scripts/$part.sh" stop || status=1
  done
  rm -f "$STARTED"
  return "$status"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
