#!/usr/bin/env bash
# scripts/pg.sh start|stop|status|clean: a throwaway PostgreSQL server for the tests.
#
# Debian's server binaries (/usr/lib/postgresql/<ver>/bin; apt-get installs them when absent) run as
# the `postgres` user (PostgreSQL refuses root) on a fresh cluster under .cache/pg/ (or
# /var/tmp/segflow-pg-<hash> when postgres cannot reach the repo), listening on 127.0.0.1 only on a
# free port, fsync off. Superuser role `segflow`/`segflow`, database `segflow`; the URL goes into
# .cache/testenv.sh as SEGFLOW_TEST_DATABASE_URL.
set -euo pipefail
# shellcheck source=scripts/_lib.sh
. "$(dirname "$0")/_lib.sh"

PG_STATE="$CACHE/pg"            # root-owned: port, cluster.path
PG_USER=segflow
PG_PASSWORD=segflow
PG_DB=segflow

pg_bindir() {
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2> /dev/null | sort -V | tail -n 1 || true)"
  [ -n "$initdb" ] && dirname "$initdb"
}

ensure_server_binaries() {
  [ -n "$(pg_bindir)" ] && return 0
  # Keep the package from starting its own cluster on :5432 (Debian honours policy-rc.d).
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added=1
  fi
  apt_install postgresql || { [ -n "$added" ] && rm -f "$policy"; die "could not install postgresql"; }
  [ -n "$added" ] && rm -f "$policy"
  [ -n "$(pg_bindir)" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb"
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# Where the cluster lives: .cache/pg/cluster if `postgres` can reach it, else /var/tmp.
choose_cluster_dir() {
  mkdir -p "$PG_STATE"
  chmod 755 "$PG_STATE"
  if as_postgres test -x "$PG_STATE"; then
    echo "$PG_STATE/cluster"
  else
    local hash
    hash="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    log "user postgres cannot traverse $PG_STATE; using /var/tmp/segflow-pg-$hash"
    echo "/var/tmp/segflow-pg-$hash"
  fi
}

cluster_dir() { [ -f "$PG_STATE/cluster.path" ] && cat "$PG_STATE/cluster.path"; }

is_running() {
  local dir bindir
  dir="$(cluster_dir)" || return 1
  bindir="$(pg_bindir)" || return 1
  [ -f "$dir/data/postmaster.pid" ] && as_postgres "$bindir/pg_ctl" -D "$dir/data" status > /dev/null 2>&1
}

start() {
  local t0 bindir dir port
  t0="$(now)"
  command -v runuser > /dev/null || die "runuser (util-linux) is required"
  ensure_server_binaries
  id postgres > /dev/null 2>&1 || die "no 'postgres' OS user (Debian's postgresql package creates it)"
  bindir="$(pg_bindir)"
  if is_running; then
    log "a previous test PostgreSQL is still running; stopping it first"
    stop
  fi
  dir="$(choose_cluster_dir)"
  printf '%s\n' "$dir" > "$PG_STATE/cluster.path"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s\n' "$PG_PASSWORD" > "$dir/pwfile"
  chown -R postgres:postgres "$dir"
  chmod 700 "$dir"

  as_postgres "$bindir/initdb" -D "$dir/data" -U "$PG_USER" --pwfile="$dir/pwfile" \
    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync > "$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"

  port="$(free_port)"
  as_postgres tee -a "$dir/data/postgresql.conf" > /dev/null <<CONF

# --- segflow test server (scripts/pg.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 120 start > /dev/null \
    || { tail -n 40 "$dir/postgres.log" >&2; die "pg_ctl start failed"; }
  printf '%s\n' "$port" > "$PG_STATE/port"

  PGPASSWORD="$PG_PASSWORD" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
    -U "$PG_USER" -d postgres -c "CREATE DATABASE $PG_DB" > /dev/null
  set_env SEGFLOW_TEST_DATABASE_URL "postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$PG_DB"
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port" \
    "(data $dir/data) in $(elapsed_since "$t0") s"
}

stop() {
  local dir bindir
  unset_env SEGFLOW_TEST_DATABASE_URL
  if ! is_running; then
    log "PostgreSQL not running"
    return 0
  fi
  dir="$(cluster_dir)"
  bindir="$(pg_bindir)"
  as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null
  rm -f "$PG_STATE/port"
  log "PostgreSQL stopped"
}

status() {
  if is_running; then
    echo "running on 127.0.0.1:$(cat "$PG_STATE/port" 2> /dev/null || echo '?') (data $(cluster_dir)/data)"
  else
    echo "stopped"
    return 3
  fi
}

# Stop, then remove the cluster (wherever it lives) and .cache/pg.
clean() {
  local dir
  stop
  dir="$(cluster_dir || true)"
  [ -n "$dir" ] && rm -rf "$dir"
  rm -rf "$PG_STATE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  clean) clean ;;
  *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
