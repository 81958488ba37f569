#!/usr/bin/env bash
# `make test`: every test. Integration tests start the real stack once per run (and stop it after
# if they started it). Under GX_REQUIRE_STACK=1 (CI) an integration test that skips fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q -ra "$@"
