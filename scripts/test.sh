#!/usr/bin/env bash
# `make test`: every test. The chaincode's own unit tests (node's test runner), then the Python
# unit and integration tests. Integration tests start the real stack once per run (and stop it
# after if they started it). Under GX_REQUIRE_STACK=1 (CI) an integration test that skips fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# Fabric is installed on the machine, never built here: stop early, with the fix, if it is missing.
.venv/bin/gxctl fabric check
echo "--- chaincode unit tests (chaincode/gxtv3, node --test)"
cc=$(.venv/bin/python -m stack.chaincode)
out=$(mktemp)
if ! NODE_PATH="$cc/node_modules" node --test chaincode/gxtv3/test/*.test.js >"$out" 2>&1; then
  cat "$out"; rm -f "$out"; exit 1
fi
grep -E '^# (tests|pass|fail)' "$out"; rm -f "$out"
echo "--- Python tests"
.venv/bin/python -m pytest -q -ra "$@"
