#!/usr/bin/env bash
# scripts/run-tests.sh [PYTEST ARGS...]: `make test`. Runs pytest over the test folders that exist
# (tests/unit tests/integration tests/e2e tests/browser) against freshly started PostgreSQL and
# Kafka, stops them afterwards whatever happens, and exits with pytest's status. First the compiled hot
# loops' own Rust unit tests (native/; the Python suite then holds them equal to the Python rules).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

folders=()
for folder in tests/unit tests/integration tests/e2e tests/browser; do
  if [ -d "$folder" ]; then
    folders+=("$folder")
  else
    echo "[run-tests.sh] $folder does not exist yet; not collected" >&2
  fi
done

PATH="$("$REPO/scripts/ensure-cargo.sh"):$PATH" PYO3_PYTHON="$REPO/.venv/bin/python" cargo test --manifest-path native/Cargo.toml --release --locked --quiet

exec "$REPO/scripts/with-testenv.sh" "$REPO/.venv/bin/python" -m pytest "${folders[@]}" "$@"
