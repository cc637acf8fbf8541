# shellcheck shell=bash
# Shared helpers for scripts/*.sh: repo paths, free ports, the .cache/testenv.sh env file,
# and installing missing Debian packages. Sourced, never executed.

# runuser, apt-get and friends live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# SEGFLOW_CACHE_DIR lets a second, private set of parts (scripts/chaosenv.sh) live elsewhere.
CACHE="${SEGFLOW_CACHE_DIR:-$REPO/.cache}"
TESTENV_FILE="$CACHE/testenv.sh"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# A TCP port on 127.0.0.1 that is free right now (the kernel picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# set_env NAME VALUE: replace (or add) `export NAME=VALUE` in .cache/testenv.sh.
set_env() {
  mkdir -p "$CACHE"
  touch "$TESTENV_FILE"
  local tmp="$TESTENV_FILE.tmp.$$"
  grep -v "^export $1=" "$TESTENV_FILE" > "$tmp" || true
  printf 'export %s=%q\n' "$1" "$2" >> "$tmp"
  mv "$tmp" "$TESTENV_FILE"
}

# unset_env NAME: drop NAME from .cache/testenv.sh.
unset_env() {
  [ -f "$TESTENV_FILE" ] || return 0
  local tmp="$TESTENV_FILE.tmp.$$"
  grep -v "^export $1=" "$TESTENV_FILE" > "$tmp" || true
  mv "$tmp" "$TESTENV_FILE"
}

# apt_install PKG...: install Debian packages (as root, or through sudo when available).
APT_UPDATED=""
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || die "need root (or sudo) to apt-get install $*"
    sudo="sudo"
  fi
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" > /dev/null
}

# Seconds since the epoch with milliseconds, for start-up timings.
now() { date +%s.%N; }
elapsed_since() { python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"; }
