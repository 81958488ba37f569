#!/usr/bin/env bash
# `make test`: every test, fastest first. `make check` (lint, format, types) and the Python unit
# tests, then the chaincode's own tests (node's test runner), the integration tests on the real
# stack (started once per run, stopped after if started here), the secure stack's pass and last the
# HA topology's (tests/integration/ha).
# With arguments (`make test ARGS=...`) only pytest runs, with them, on the tests' stack.
# Under GX_REQUIRE_STACK=1 (CI) an integration test that skips fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests never touch the user's stack: a state directory and loopback ports of their own, so a
# running `make run` keeps its data, and sees none of the tests'.
export GX_STATE_DIR="${GX_TEST_STATE_DIR:-$HOME/.cache/gx-pipeline/test-state}"
export GX_PG_PORT=26432 GX_KAFKA_PORT=30092 GX_KAFKA_CONTROLLER_PORT=30093 GX_CONNECT_PORT=29083 \
  GX_CONNECT_METRICS_PORT=29084 GX_PROMETHEUS_PORT=30090 \
  GX_WORKER_PORT_BASE=29191 GX_ORDERER_PORT=28050 GX_ORDERER_ADMIN_PORT=28053 GX_ORDERER_OPS_PORT=28453 \
  GX_PEER_PORT=28051 GX_PEER_CHAINCODE_PORT=28052 GX_PEER_OPS_PORT=28454 GX_CHAINCODE_PORT=28199
unset GX_PG_DSN GX_KAFKA_BOOTSTRAP GX_CONNECT_URL GX_FABRIC_GATEWAY GX_FABRIC_CERT GX_FABRIC_KEY GX_FABRIC_TLS_ROOT
if [ $# -eq 0 ]; then
  # The fast checks first: a style, type or unit failure fails the run in minutes, before any stack.
  echo "--- make check: lint, format, types"
  bash scripts/check.sh
  echo "--- unit tests"
  .venv/bin/python -m pytest -q -ra tests/unit
fi
# Fabric is installed on the machine, never built here: stop early, with the fix, if it is missing.
.venv/bin/gxctl fabric check
# Every download and build the tests need (jars, npm, Go tools, schemas), before the first test:
# a test never builds a tool inside its own time limit.
echo "--- set-up: what the tests need (cached under ~/.cache/gx-pipeline)"
.venv/bin/python -m tests.prepare
if [ $# -gt 0 ]; then
  # `make test ARGS=...`: only pytest with those arguments, on the tests' stack.
  exec .venv/bin/python -m pytest -q -ra "$@"
fi
echo "--- chaincode unit tests (chaincode/gxtv3, node --test)"
cc=$(.venv/bin/python -m stack.chaincode)
out=$(mktemp)
if ! NODE_PATH="$cc/node_modules" node --test chaincode/gxtv3/test/*.test.js >"$out" 2>&1; then
  cat "$out"; rm -f "$out"; exit 1
fi
grep -E '^# (tests|pass|fail)' "$out"; rm -f "$out"
echo "--- integration tests on the real stack"
.venv/bin/python -m pytest -q -ra tests/integration
# The write and read paths once more, end to end, on the secure stack (gxctl stack up --secure):
# Kafka SCRAM over TLS with ACLs, a Postgres role per job, the peer on mutual TLS, Connect's REST
# API behind basic auth. Then the security tests of that stack: its roles and identities, what a
# compromised part could try (Postgres roles, the running processes' environments, files and
# endpoints), a dead letter replayed as gx-dlq-replayer, the slot advancing on Debezium's WAL
# heartbeats; and last (marked `last`, which tests/conftest.py runs after every other test) the
# secrets-leak scan of every log, --json output, connector config and Helm manifest of both passes.
echo "--- the end-to-end and security tests on the secure stack"
.venv/bin/gxctl down >/dev/null 2>&1 || true   # the plain stack's ports (if GX_KEEP_STACK kept it)
GX_STATE_DIR="$GX_STATE_DIR-secure" GX_TEST_SECURE=1 .venv/bin/python -m pytest -q -ra \
  tests/integration/test_pipeline_up.py tests/integration/test_kafka_security.py \
  "tests/integration/test_read_models.py::test_the_demo_ends_in_read_models_equal_to_the_ledger_and_a_write_can_be_waited_on" \
  tests/integration/secure/test_secure_stack.py tests/integration/secure/test_postgres_roles.py \
  tests/integration/secure/test_stack_hardening.py tests/integration/test_dlq_cli.py \
  "tests/integration/test_outbox_capture.py::test_heartbeats_let_the_slot_advance_while_the_outbox_is_idle" \
  tests/integration/secure/test_secrets_hygiene.py
# The HA topology (issue 34): three Raft orderers and four peers of three organisations, the whole
# pipeline on it with two gateway endpoints: the network, a gateway peer's failover and the fault
# harness's `ha-ci` profile (tests/integration/ha). A state folder of its own, but the same
# Postgres, Kafka and Connect ports as the other passes, so it runs after they have stopped.
echo "--- the HA topology's tests"
GX_STATE_DIR="$GX_STATE_DIR-secure" .venv/bin/gxctl down >/dev/null 2>&1 || true
GX_STATE_DIR="$GX_STATE_DIR-ha" GX_HA_STATE_DIR="$GX_STATE_DIR-ha" GX_TEST_HA=1 \
  .venv/bin/python -m pytest -q -ra tests/integration/ha
