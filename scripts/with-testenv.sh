#!/usr/bin/env bash
# scripts/with-testenv.sh CMD [ARGS...]: bring the test parts up (scripts/testenv.sh up), run CMD
# with .cache/testenv.sh in its environment, ALWAYS bring them down again (also on failure, Ctrl-C
# or SIGTERM from a CI runner), and exit with CMD's status.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

child=""
# On INT/TERM: end CMD (if running), then exit; the EXIT trap stops the parts.
on_signal() {
  if [ -n "$child" ] && kill -0 "$child" 2> /dev/null; then
    kill -TERM "$child" 2> /dev/null || true
    wait "$child" 2> /dev/null || true
  fi
  exit "$1"
}
trap '"$REPO/scripts/testenv.sh" down' EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

"$REPO/scripts/testenv.sh" up
set -a
# shellcheck source=/dev/null
. "$REPO/.cache/testenv.sh"
set +a

# CMD runs in the background so that a signal reaches this script's traps at once (bash defers
# traps while a foreground child runs); `wait` returns CMD's exit status.
set +e
"$@" &
child=$!
wait "$child"
status=$?
set -e
exit "$status"
