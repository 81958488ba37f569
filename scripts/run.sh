#!/usr/bin/env bash
# `make run`: the local pipeline (`gxctl up`), then a small demo load: commands enqueued through
# the outbox, captured by Debezium onto gx.commands. (Submission to Fabric is blocked: see README.)
set -euo pipefail
cd "$(dirname "$0")/.."
GX=.venv/bin/gxctl
$GX fabric check   # Fabric is installed on the machine (make fabric); stop here with the fix if not
$GX up          # stack, migrations, topics, outbox connector, workers (results writer)
set -a; eval "$($GX stack env)"; set +a
$GX check
run=$(date +%s)
echo "--- demo: enqueueing commands through the outbox (tenant demo, run $run)"
$GX commands enqueue --tenant demo --service svc-admin --type BOOTSTRAP_SYSTEM --request-id "boot-$run" --payload '{}'
for u in 1 2 3; do
  $GX commands enqueue --tenant demo --service svc-identity --type CREATE_USER --request-id "user-$run-$u" \
    --payload "{\"userId\": \"USR-$run-$u\", \"email\": \"u$u@example.com\", \"firstName\": \"Demo\", \"lastName\": \"User$u\", \"country\": \"MY\"}"
done
$GX commands enqueue --tenant demo --service svc-tokenomics --type TRANSFER_TOKENS --request-id "xfer-$run" \
  --payload "{\"fromWalletId\": \"USR-$run-1\", \"toWalletId\": \"USR-$run-2\", \"amount\": 25}"
echo "--- an invalid command is refused at the door, naming the field:"
$GX commands enqueue --tenant demo --service svc-tokenomics --type TRANSFER_TOKENS --request-id "bad-$run" \
  --payload '{"fromWalletId": "a", "toWalletId": "b", "amount": 0}' || true
sleep 2
echo "--- topics (records captured so far):"
$GX topics describe
cat <<MSG

GX Pipeline's local stack is up (state and logs under ${GX_STATE_DIR}).
  environment:   .venv/bin/gxctl stack env        (eval "\$(.venv/bin/gxctl stack env --export)")
  status:        .venv/bin/gxctl status ; .venv/bin/gxctl connectors status
  worker health: curl http://127.0.0.1:58091/readyz ; curl http://127.0.0.1:58091/metrics
  a command:     .venv/bin/gxctl commands show boot-$run
  logs:          .venv/bin/gxctl stack logs kafka|connect|postgres
  benchmark:     .venv/bin/python -m bench.outbox_capture
  stop:          .venv/bin/gxctl down             (add --purge to delete its data)
MSG
