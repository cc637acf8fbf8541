#!/usr/bin/env bash
# scripts/ensure-uv.sh: print the path of a `uv` executable, installing one when none exists
# (fresh machine with only python3 and pip): first into a bootstrap venv under .cache/, else with
# `pip install --user`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BOOTSTRAP="$REPO/.cache/bootstrap"

if command -v uv > /dev/null 2>&1 && uv --version > /dev/null 2>&1; then
  command -v uv
  exit 0
fi
if [ -x "$BOOTSTRAP/bin/uv" ]; then
  echo "$BOOTSTRAP/bin/uv"
  exit 0
fi

echo "[ensure-uv.sh] uv not found; installing it" >&2
if python3 -m venv "$BOOTSTRAP" > /dev/null 2>&1 && "$BOOTSTRAP/bin/python" -m pip install -q uv >&2; then
  echo "$BOOTSTRAP/bin/uv"
  exit 0
fi
rm -rf "$BOOTSTRAP"
python3 -m pip install -q --user uv >&2 \
  || python3 -m pip install -q --user --break-system-packages uv >&2
user_uv="$(python3 -m site --user-base)/bin/uv"
[ -x "$user_uv" ] || { echo "[ensure-uv.sh] could not install uv" >&2; exit 1; }
echo "$user_uv"
