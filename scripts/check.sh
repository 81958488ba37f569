#!/usr/bin/env bash
# `make check`: lint, format check and type check of the whole tree, each named when it fails.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
echo "--- ruff check";          .venv/bin/ruff check --quiet . || rc=1
echo "--- ruff format --check"; .venv/bin/ruff format --check --quiet . || rc=1
echo "--- mypy";                .venv/bin/mypy || rc=1
exit $rc
