#!/usr/bin/env bash
# scripts/asyncapi-validate.sh [FILE]: validate the AsyncAPI document with the AsyncAPI CLI from npm
# (tools/). Default: contracts/schemas/asyncapi.yaml, or tools/sample-asyncapi.yaml while the
# contracts export has not produced it yet. No telemetry, no update check, no prompts.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

cli="tools/node_modules/.bin/asyncapi"
[ -x "$cli" ] || { echo "[asyncapi-validate.sh] $cli missing: run 'make install'" >&2; exit 1; }

file="${1:-}"
if [ -z "$file" ]; then
  if [ -f contracts/schemas/asyncapi.yaml ]; then
    file=contracts/schemas/asyncapi.yaml
  else
    file=tools/sample-asyncapi.yaml
    echo "[asyncapi-validate.sh] contracts/schemas/asyncapi.yaml not generated yet; validating $file" >&2
  fi
fi

# The CLI's metrics read this config (analyticsEnabled=false) and are also off when CI=true;
# oclif's update check is off with ASYNCAPI_SKIP_NEW_VERSION_CHECK.
exec env CI=true \
  ASYNCAPI_METRICS_CONFIG_PATH="$REPO/tools/asyncapi-analytics.json" \
  ASYNCAPI_SKIP_NEW_VERSION_CHECK=true \
  "$cli" validate --fail-severity error "$file" < /dev/null
