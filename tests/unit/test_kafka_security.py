"""The ACLs of the secure local stack grant each principal its job and nothing else."""

from __future__ import annotations

from gxcommon.topics import TopicSettings
from projections.groups import GROUPS
from stack.kafka_security import acls, principals


def grants() -> dict[str, set[tuple[str, str, str, bool]]]:
    out: dict[str, set[tuple[str, str, str, bool]]] = {}
    for g in acls("gx-pipeline", list(GROUPS), TopicSettings()):
        out.setdefault(g.principal, set()).add((g.resource, g.name, g.operation, g.prefixed))
    return out


def topic_ops(principal: str, op: str) -> set[str]:
    return {name for res, name, o, _ in grants()[principal] if res == "topic" and o == op}


def test_each_principal_reads_and_writes_exactly_its_topics() -> None:
    assert set(grants()) == set(principals(list(GROUPS)))
    assert topic_ops("gx-submitter", "READ") == {"gx.commands", "gx.commands.direct"}
    assert topic_ops("gx-submitter", "WRITE") == {"gx.command-results", "gx.commands.dlq"}
    # The results writer's corrector reads the events and publishes corrections (issue 30, defect 4).
    assert topic_ops("gx-results-writer", "READ") == {"gx.command-results", "gx.fabric.events"}
    assert topic_ops("gx-results-writer", "WRITE") == {"gx.commands.dlq", "gx.command-results"}
    assert topic_ops("gx-block-publisher", "WRITE") == {"gx.fabric.events", "gx.fabric.blocks"}
    for g in GROUPS:
        assert topic_ops(f"gx-projector-{g}", "READ") == {"gx.fabric.events"}
        assert topic_ops(f"gx-projector-{g}", "WRITE") == {"gx.projections.dlq"}
    assert "gx.commands" in topic_ops("gx-connect", "WRITE")
    assert not any("gx.fabric" in t or "command-results" in t for t in topic_ops("gx-connect", "WRITE"))
    # Nobody but Connect and the replay of a dead letter may write gx.commands (where the submitter
    # takes an administrative command on the outbox's word); a service's direct produce writes its
    # own topic only (issue 31: a user-level service unable to send an administrative command by
    # any path); nobody gets ALL or cluster-wide ALTER.
    writers = {p for p in grants() if "gx.commands" in topic_ops(p, "WRITE")}
    assert writers == {"gx-connect", "gx-dlq-replayer"}
    direct = {p for p in grants() if "gx.commands.direct" in topic_ops(p, "WRITE")}
    assert direct == {"gx-producer", "gx-dlq-replayer"}
    assert {(r, n, o) for r, n, o, _ in grants()["gx-producer"]} == {
        ("topic", "gx.commands.direct", "WRITE"),
        ("topic", "gx.commands.direct", "DESCRIBE"),
        ("cluster", "kafka-cluster", "IDEMPOTENT_WRITE"),
    }
    assert not any(o in ("ALL", "ALTER", "DELETE") for gs in grants().values() for _, _, o, _ in gs)


def test_groups_and_transactions_are_each_principals_own() -> None:
    g = grants()
    assert ("group", "gx-pipeline-submitter", "READ", False) in g["gx-submitter"]
    assert {name for res, name, *_ in g["gx-results-writer"] if res == "group"} == {
        "gx-pipeline-results-writer",
        "gx-pipeline-results-corrector",
    }
    assert ("transactional_id", "gx-pipeline-block-publisher-", "WRITE", True) in g["gx-block-publisher"]
    assert not any(res == "transactional_id" for p, gs in g.items() if p != "gx-block-publisher" for res, *_ in gs)
    assert ("group", "gx-pipeline-projector-ledger", "READ", True) in g["gx-projector-ledger"]
    assert not any(name.startswith("gx-pipeline-projector-ledger") for res, name, *_ in g["gx-projector-loans"])


def test_the_replayer_reads_dead_letters_and_writes_back_to_their_sources_only() -> None:
    """Issue 33, finding 3: `gxctl dlq replay` runs as a principal allowed exactly that, not the super user."""
    sources = {"gx.commands", "gx.commands.direct", "gx.command-results", "gx.fabric.events"}
    assert topic_ops("gx-dlq-replayer", "READ") == {"gx.commands.dlq", "gx.projections.dlq", *sources}
    assert topic_ops("gx-dlq-replayer", "WRITE") == {*sources, "gx.dlq.replays"}
    g = grants()["gx-dlq-replayer"]
    assert {(res, name) for res, name, _, _ in g if res in ("group", "cluster")} == {
        ("group", "gxctl-dlq-"),
        ("cluster", "kafka-cluster"),
    }
    assert not any(res == "transactional_id" for res, *_ in g)
    # Nobody writes the audit topic but the replayer; the results writer only sees its end (the metric).
    assert {p for p in grants() if "gx.dlq.replays" in topic_ops(p, "WRITE")} == {"gx-dlq-replayer"}
    assert ("topic", "gx.dlq.replays", "DESCRIBE", False) in grants()["gx-results-writer"]
