#!/usr/bin/env bash
# Creates .venv/ in the clone and installs the project with its pinned dependencies.
# Idempotent: reinstalls only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python >= 3.11 is needed (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.gx-stamp 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
if ! "$PY" -m venv .venv 2>/dev/null; then
  echo "error: '$PY -m venv' failed; on Debian: apt-get install -y python3-venv" >&2
  exit 1
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -c constraints.txt -e '.[test]'
echo "$stamp" > .venv/.gx-stamp
echo "installed GX Pipeline into .venv/ ($(.venv/bin/python --version))"
