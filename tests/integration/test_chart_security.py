"""The chart's rendered objects, as security promises (issue 33): what each pod holds and may
reach, and that values-mainnet.yaml renders with every security switch on and validates offline.

Each case renders the chart (helm template, no cluster) and reads the objects; the schemas are
kubeconform's strict ones (tests/integration/k8s_schemas.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import gotools
from stack.settings import StackSettings
from tests.integration.k8s_schemas import CHART_KINDS, build
from tests.integration.test_chart import CHART, SECURE

BASE = ("--set", "postgres.password=x", "--set", "chaincode.packageId=gxtv3:0")


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    cache = StackSettings().cache_dir
    return {name: gotools.require(name, cache) for name in ("helm", "kubeconform")}


def render(tools: dict[str, Path], *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(tools["helm"]), "template", "gx", str(CHART), "--namespace", "gx", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod template (Deployments and Jobs) by its component label."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


def env_of(pod: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}


def secret_keys(pod: dict[str, Any]) -> dict[str, list[str]]:
    """Each Secret volume of the pod and the keys it mounts."""
    return {v["name"]: [i["key"] for i in v["secret"].get("items", [])] for v in pod["volumes"] if "secret" in v}


# -- finding 1: the connector's password reaches Connect through a config provider in every mode --


@pytest.mark.parametrize("roles", [False, True])
def test_rest_mode_hands_connect_a_provider_reference_and_the_init_job_no_password_of_debezium(
    tools: dict[str, Path], roles: bool
) -> None:
    """connector.mode=rest (the testnet values): the init Job tells `gxctl init` which reference to
    put in the connector's config, so the password never goes to Connect's REST API or its config
    topic; the Job then needs no password of Debezium's role at all."""
    extra = SECURE if roles else ()
    docs = render(tools, "-f", str(CHART / "values-testnet.yaml"), *extra)
    init = pods(docs)["init"]
    env = env_of(init)
    secret = "gx-postgres-roles:gx_cdc" if roles else "gx-postgres:password"
    assert env.get("GX_CONNECT_PASSWORD_REF") == f"${{secrets:gx/{secret}}}", env
    assert "postgres-cdc" not in secret_keys(init) and "GX_PG_CDC_PASSWORD_FILE" not in env
    if roles:
        assert str(env["GX_PG_CDC_DSN"]).startswith("postgresql://gx_cdc@")
    # Or Connect's own environment, by name (a Connect whose provider is the EnvVarConfigProvider).
    docs = render(tools, "-f", str(CHART / "values-testnet.yaml"), "--set", "connector.passwordFrom=env")
    env = env_of(pods(docs)["init"])
    assert env.get("GX_CONNECT_PASSWORD_ENV") == "GX_OUTBOX_DB_PASSWORD" and "GX_CONNECT_PASSWORD_REF" not in env


def test_an_unknown_password_source_is_refused_by_name(tools: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(tools["helm"]), "template", "gx", str(CHART), *BASE, "--set", "connector.passwordFrom=clear"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "connector.passwordFrom must be provider or env" in proc.stderr


def test_strimzi_mode_uses_the_same_reference(tools: dict[str, Path]) -> None:
    docs = render(tools, *BASE, "--set", "connector.mode=strimzi")
    kc = next(d for d in docs if d["kind"] == "KafkaConnector")
    assert kc["spec"]["config"]["database.password"] == "${secrets:gx/gx-gx-pipeline-postgres:password}"


def schemas() -> Path:
    return build(StackSettings().cache_dir, set(CHART_KINDS))
