#!/usr/bin/env bash
# `make check`: lint, format check, type check and import graph of the whole tree, each named when it fails.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
echo "--- ruff check";          .venv/bin/ruff check --quiet . || rc=1
echo "--- ruff format --check"; .venv/bin/ruff format --check --quiet . || rc=1
echo "--- mypy";                .venv/bin/mypy || rc=1
# No import loop, and the libraries import nothing else of the project (a second or so).
echo "--- import graph";        .venv/bin/python -m pytest -q --no-header -p no:cacheprovider tests/unit/test_imports.py || rc=1
exit $rc
