#!/usr/bin/env bash
# `make run`: the local pipeline (`gxctl up`: stack with Fabric, migrations, topics, connector, every
# worker), then the demo story through the outbox (all 25 command types, a few bad on purpose) and
# its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
GX=.venv/bin/gxctl
$GX fabric check   # Fabric is installed on the machine (make fabric); stop here with the fix if not
$GX up
echo "--- demo: commands through the outbox, Debezium, Kafka, the submitter and Fabric, then the read models"
$GX demo
$GX verify
cat <<MSG

GX Pipeline is running on the local stack (gxctl finds it by itself; \`gxctl stack env\` prints its settings).
  status:        .venv/bin/gxctl status [--watch]   (health, connector, lag, breaker, dead letters, projectors)
  monitoring:    .venv/bin/gxctl stack up --with-monitoring ; .venv/bin/gxctl report --out report/   (dashboards as PNG)
  a command:     .venv/bin/gxctl commands show REQUEST_ID ; .venv/bin/gxctl projections wait --request-id REQUEST_ID
  read models:   .venv/bin/gxctl verify   (each read model against the ledger)
  payloads:      .venv/bin/gxctl schemas list ; .venv/bin/gxctl schemas show TRANSFER_TOKENS
  worker health: curl http://127.0.0.1:28092/readyz ; curl http://127.0.0.1:28092/metrics   (the submitter)
  logs:          .venv/bin/gxctl stack logs submitter|results-writer|peer|orderer|connect
  benchmarks:    .venv/bin/python -m bench.fabric_ceiling ; .venv/bin/python -m bench.e2e
  stop:          .venv/bin/gxctl down             (add --purge to delete its data)
MSG
