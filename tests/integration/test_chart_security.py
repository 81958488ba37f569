"""The chart's rendered objects, as security promises (issue 33): what each pod holds and may
reach, and that values-mainnet.yaml renders with every security switch on and validates offline.

Each case renders the chart (helm template, no cluster) and reads the objects; the schemas are
kubeconform's strict ones (tests/integration/k8s_schemas.py).
"""

from __future__ import annotations

import json
import re
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


# -- finding 6: production's defaults in values-mainnet.yaml; testnet says what it leaves off ------

# Every security switch of the chart: its path in the values, and what "on" is.
SWITCHES = {
    "kafka.sasl.enabled": True,
    "postgres.roles.enabled": True,
    "postgres.sslmode": "verify-full",
    "fabric.mutualTLS": True,
    "chaincode.tls.enabled": True,
    "networkPolicy.enabled": True,
    "connect.basicAuth.enabled": True,
    "web.metricsAuth.enabled": True,
    "fabric.leastPrivilege": True,
}
WORKERS = ("submitter", "results-writer", "block-publisher")


def value(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part, {}) if isinstance(doc, dict) else {}
    return doc if doc != {} else None


def kubeconform(tools: dict[str, Path], docs_text: str, tmp_path: Path) -> str:
    out = tmp_path / "manifests.yaml"
    out.write_text(docs_text)
    proc = subprocess.run(
        [
            str(tools["kubeconform"]),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{schemas()}/{{{{ .ResourceKind }}}}-{{{{ .Group }}}}-{{{{ .ResourceAPIVersion }}}}.json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "Invalid: 0" in proc.stdout and "Skipped: 0" in proc.stdout, proc.stdout
    return proc.stdout


def test_mainnet_values_turn_every_switch_on(tools: dict[str, Path]) -> None:
    mainnet = yaml.safe_load((CHART / "values-mainnet.yaml").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for path, on in SWITCHES.items():
        assert value(mainnet, path) == on, f"values-mainnet.yaml: {path} is {value(mainnet, path)!r}, not {on!r}"
        assert value(defaults, path) is not None, f"values.yaml has no {path}"


def line_of(lines: list[str], path: str) -> int | None:
    """The index of the line that sets ``path`` (block-style YAML), or None."""
    start, indent = 0, -1
    for part in path.split("."):
        for i in range(start, len(lines)):
            m = re.match(r"(\s*)" + re.escape(part) + r":", lines[i])
            if m and len(m.group(1)) > indent:
                start, indent = i + 1, len(m.group(1))
                break
            if (
                lines[i].strip()
                and not lines[i].lstrip().startswith("#")
                and len(lines[i]) - len(lines[i].lstrip()) <= indent
            ):
                return None  # left the enclosing mapping
        else:
            return None
    return start - 1


def test_testnet_states_each_switch_it_leaves_off_and_why() -> None:
    """Every switch testnet does not turn on is set there explicitly, with a comment saying why
    (on its line, or the comment lines right above it)."""
    text = (CHART / "values-testnet.yaml").read_text()
    testnet = yaml.safe_load(text)
    lines = text.splitlines()
    for path, on in SWITCHES.items():
        if value(testnet, path) == on:
            continue
        i = line_of(lines, path)
        assert i is not None, f"values-testnet.yaml leaves {path} off without setting it"
        said = lines[i].partition("#")[2].strip()
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            said += " " + lines[j].strip().lstrip("#").strip()
            j -= 1
        assert len(said.strip()) > 20, f"values-testnet.yaml: {path} is off with no reason given"


def test_mainnet_renders_with_every_switch_on_and_validates_offline(tools: dict[str, Path], tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(tools["helm"]),
            "template",
            "gx",
            str(CHART),
            "--namespace",
            "gx",
            "-f",
            str(CHART / "values-mainnet.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    kubeconform(tools, proc.stdout, tmp_path)
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    kinds = {d["kind"] for d in docs}
    assert {"ServiceAccount", "NetworkPolicy", "KafkaConnector"} <= kinds
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    everything = pods(docs)
    assert set(WORKERS) | {"chaincode", "migrate", "init", "projector-ledger"} <= set(everything)
    for who, pod in everything.items():
        assert pod["automountServiceAccountToken"] is False, who
        assert pod["serviceAccountName"] == sa["metadata"]["name"], who
        if who == "chaincode":
            continue
        env = env_of(pod)
        assert env["GX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", who
        dsn = env.get("GX_PG_DSN") or ""
        if who not in ("migrate", "init"):
            assert dsn.startswith("postgresql://gx_"), who
        if dsn:
            assert "sslmode=verify-full" in dsn and "sslrootcert=/var/run/secrets/gx/postgres-ca/ca.crt" in dsn, who
            assert "postgres-ca" in secret_keys(pod), who
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-pipeline"))
    assert "sslmode=verify-full" in cm["data"]["GX_PG_DSN"]
    fabric = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-fabric"))
    assert fabric["data"]["GX_FABRIC_TLS_CERT"] and fabric["data"]["GX_FABRIC_TLS_KEY"]
    cc = everything["chaincode"]["containers"][0]
    args = " ".join(cc["args"])
    assert "--chaincode-tls-cert-file=" in args and "--chaincode-tls-key-file=" in args, args
    assert "--chaincode-tls-client-cacert-file=" in args, "the peer is the only client: mutual TLS"
    assert "0.0.0.0" not in args and "$(POD_IP)" in args, args
    kc = next(d for d in docs if d["kind"] == "KafkaConnector")["spec"]["config"]
    assert kc["database.sslmode"] == "verify-full" and kc["database.sslrootcert"]
    assert kc["database.user"] == "gx_cdc"


def _policies(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    sel = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in sel.get("matchLabels", {}).items()):
        return False
    for e in sel.get("matchExpressions", []):
        have = labels.get(e["key"])
        if e["operator"] == "In" and have not in e["values"]:
            return False
        if e["operator"] == "NotIn" and have in e["values"]:
            return False
    return True


def flows(docs: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    """What the policies allow a pod with ``labels``: (peer, port) pairs per direction, a peer
    written as its selector's JSON."""
    out: dict[str, set[tuple[str, str]]] = {"Ingress": set(), "Egress": set()}
    for p in _policies(docs):
        if not _selects(p, labels):
            continue
        for direction, key, side in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
            for rule in p["spec"].get(key, []):
                peers = [json.dumps(x, sort_keys=True) for x in rule.get(side, [])] or ["anywhere"]
                ports = [f"{x.get('protocol', 'TCP')}/{x['port']}" for x in rule.get("ports", [])] or ["any"]
                out[direction] |= {(peer, port) for peer in peers for port in ports}
    return out


def test_network_policies_deny_all_but_the_flows_of_the_architecture(tools: dict[str, Path]) -> None:
    docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"))
    v = yaml.safe_load((CHART / "values-mainnet.yaml").read_text())["networkPolicy"]

    def peers(name: str) -> set[str]:
        return {json.dumps(x, sort_keys=True) for x in v[name]["peers"]}

    def ports(name: str, default: list[Any]) -> set[str]:
        return {f"{p.get('protocol', 'TCP')}/{p['port']}" for p in v[name].get("ports", default)}

    base = {"app.kubernetes.io/name": "gx-pipeline", "app.kubernetes.io/instance": "gx"}
    deny = [p for p in _policies(docs) if not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert len(deny) == 1 and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert deny[0]["spec"]["podSelector"] == {"matchLabels": base}
    dns = {(p, port) for p in peers("dns") for port in ports("dns", [])}
    kafka = {(p, port) for p in peers("kafka") for port in ports("kafka", [])}
    postgres = {(p, port) for p in peers("postgres") for port in ports("postgres", [])}
    fabric = {(p, port) for p in peers("fabricPeer") for port in ports("fabricPeer", [])}
    scraper = {(p, "TCP/web") for p in peers("scraper")}
    for component in (*WORKERS, "projector-ledger"):
        f = flows(docs, {**base, "app.kubernetes.io/component": component})
        ledger = fabric if component in ("submitter", "block-publisher") else set()
        assert f["Egress"] == dns | kafka | postgres | ledger, component
        assert f["Ingress"] == scraper, component
    for job in ("migrate", "init"):  # Strimzi runs the connector on mainnet: the init Job never calls Connect
        f = flows(docs, {**base, "app.kubernetes.io/component": job})
        assert f["Egress"] == dns | kafka | postgres and f["Ingress"] == set(), job
    f = flows(docs, {**base, "app.kubernetes.io/component": "chaincode"})
    assert f["Egress"] == set(), "the chaincode calls nobody: the peer calls it"
    assert f["Ingress"] == {(p, "TCP/chaincode") for p in peers("fabricPeer")}
    # In connector.mode=rest, the init Job reaches Connect's REST API too.
    docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"), "--set", "connector.mode=rest")
    f = flows(docs, {**base, "app.kubernetes.io/component": "init"})
    connect = {(p, port) for p in peers("connect") for port in ports("connect", [])}
    assert connect and f["Egress"] == dns | kafka | postgres | connect


def test_every_pod_runs_as_its_own_service_account_without_a_token(tools: dict[str, Path]) -> None:
    """By default too (not a switch): no pod of the chart can call the Kubernetes API."""
    docs = render(tools, *BASE)
    sa = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert len(sa) == 1 and sa[0]["automountServiceAccountToken"] is False
    assert sa[0]["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"  # before the hook Jobs
    for who, pod in pods(docs).items():
        assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "gx-gx-pipeline", who


# -- finding 7: the workers' web port: no Faust pages, on the pod's address, /metrics behind a token ---


def test_the_workers_serve_on_the_pods_address_and_metrics_only_with_the_token(tools: dict[str, Path]) -> None:
    docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"))
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "gx-gx-pipeline")
    assert "GX_WEB_HOST" not in cm["data"], "0.0.0.0 for every worker"
    for who, pod in pods(docs).items():
        env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
        if who in ("chaincode", "migrate", "init"):
            assert "GX_WEB_TOKEN_FILE" not in env and "web-token" not in secret_keys(pod), who
            continue
        assert env["GX_WEB_HOST"]["value"] == "$(POD_IP)", who
        assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}, who
        assert list(env).index("POD_IP") < list(env).index("GX_WEB_HOST"), who  # defined before use
        assert env["GX_WEB_TOKEN_FILE"]["value"] == "/var/run/secrets/gx/web/token", who
        assert secret_keys(pod)["web-token"] == ["token"], who
    sm = next(d for d in docs if d["kind"] == "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": "gx-metrics-token", "key": "token"}}
    # Off (the default), no token anywhere.
    docs = render(tools, *BASE, "--set", "metrics.serviceMonitor.enabled=true")
    assert "authorization" not in next(d for d in docs if d["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]
    assert all("GX_WEB_TOKEN_FILE" not in env_of(p) for p in pods(docs).values())


def test_least_privilege_in_mainnet_the_submitter_checks_services_and_signs_user_level_types_apart(
    tools: dict[str, Path],
) -> None:
    """Issue 31's service/type table and second identity reach the chart's submitter (mainnet),
    and no other worker: each process holds only its own credentials."""
    docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"))
    for who, pod in pods(docs).items():
        env = {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}
        if who != "submitter":
            assert not {"GX_SERVICE_CHECK", "GX_FABRIC_COMMANDS_CERT"} & set(env), who
            assert "fabric-commands" not in secret_keys(pod), who
            continue
        assert env["GX_SERVICE_CHECK"] == "true"
        assert (env["GX_FABRIC_COMMANDS_CERT"], env["GX_FABRIC_COMMANDS_KEY"]) == (
            "/var/run/secrets/gx/fabric-commands/cert.pem",
            "/var/run/secrets/gx/fabric-commands/key.pem",
        )
        assert secret_keys(pod)["fabric-commands"] == ["cert.pem", "key.pem"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["fabric-commands"] == "/var/run/secrets/gx/fabric-commands"
    testnet = pods(render(tools, "-f", str(CHART / "values-testnet.yaml")))["submitter"]  # off there, said why
    assert "GX_SERVICE_CHECK" not in {e["name"] for e in testnet["containers"][0].get("env", [])}
