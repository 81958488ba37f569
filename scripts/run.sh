#!/usr/bin/env bash
# `make run`: start the local stack and check it end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
GX=.venv/bin/gxctl
$GX stack up
set -a; eval "$($GX stack env)"; set +a
$GX check
cat <<MSG

GX Pipeline's local stack is up (state and logs under ${GX_STATE_DIR}).
  environment:   .venv/bin/gxctl stack env        (eval "\$(.venv/bin/gxctl stack env --export)")
  status:        .venv/bin/gxctl stack status
  logs:          .venv/bin/gxctl stack logs kafka|connect|postgres
  stop:          .venv/bin/gxctl stack down       (add --purge to delete its data)
MSG
