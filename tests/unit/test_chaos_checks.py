"""The fault harness's verdict (bench.chaos_checks): lost, doubled, wrong status, balances."""

from __future__ import annotations

from collections import Counter

from bench.chaos_checks import Transfer, check


def test_a_clean_run_is_clean() -> None:
    v = check(
        ["a", "b", "r"],
        rows={"a": ("CONFIRMED", None), "b": ("CONFIRMED", None), "r": ("FAILED", "CHAINCODE_REJECTED")},
        ledger={"a": False, "b": False, "r": True},
        events=Counter({"a": 1, "b": 1}),
        dead_letters=[],
        transfers=[Transfer("a", "w1", "w2", 5), Transfer("r", "w2", "w1", 99)],
        before={"w1": 10, "w2": 0},
        after={"w1": 5, "w2": 5},
    )
    assert v.clean and v.counts() == {
        "commands": 3,
        "rejected": 1,
        "lost": 0,
        "doubled": 0,
        "wrong_status": 0,
        "unexpected_dead_letters": 0,
        "balance_mismatches": 0,
    }


def test_each_kind_of_damage_is_named() -> None:
    v = check(
        ["lost", "twice", "phantom", "hidden", "ok"],
        rows={
            "lost": ("SUBMITTED", None),
            "twice": ("CONFIRMED", None),
            "phantom": ("CONFIRMED", None),
            "hidden": ("FAILED", "RETRIES_EXHAUSTED"),
            "ok": ("CONFIRMED", None),
        },
        ledger={"twice": False, "hidden": False, "ok": False},
        events=Counter({"twice": 2, "hidden": 1, "ok": 1}),
        dead_letters=["hidden", "stray"],
        expected_dead={"hidden"},
        transfers=[Transfer("ok", "w1", "w2", 1)],
        before={"w1": 10, "w2": 0},
        after={"w1": 8, "w2": 2},
    )
    assert (v.lost, v.doubled, v.wrong_status) == (["lost"], ["twice"], ["phantom", "hidden"])
    assert v.unexpected_dead_letters == ["stray"]
    assert v.balance_mismatches == {"w1": (-1, -2), "w2": (1, 2)} and not v.clean


def test_the_harness_reads_headers_that_are_not_utf8() -> None:
    """Issue 30: the submitter dead-letters a record whose headers are not UTF-8 with those headers,
    so gx.commands.dlq holds them; the harness reads the topic for its run's dead letters and used to
    stop there (UnicodeDecodeError: 'utf-8' codec can't decode byte 0xc3), failing every fault."""
    from bench.common import message_headers

    class Msg:
        def headers(self) -> list[tuple[str, bytes | None]]:
            return [("service", b"\xc3\x28\xff"), ("tenantId", b"t1"), ("empty", None)]

    h = message_headers(Msg())  # type: ignore[arg-type]
    assert h["tenantId"] == "t1" and h["empty"] == ""
    assert h["service"] == "\ufffd(\ufffd"


def test_a_command_the_rules_refuse_must_end_failed_with_its_recorded_rejection() -> None:
    rows = {
        "refused": ("FAILED", "CHAINCODE_REJECTED"),
        "said-ok": ("CONFIRMED", None),  # the ledger recorded a rejection: the defect 1
        "unrecorded": ("FAILED", "CHAINCODE_REJECTED"),  # thrown, never recorded: not final for this load
        "gave-up": ("FAILED", "RETRIES_EXHAUSTED"),
    }
    v = check(
        list(rows),
        rows=rows,
        ledger={"refused": True, "said-ok": True, "gave-up": True},
        events=Counter(),
        dead_letters=[],
        must_reject=set(rows),
    )
    assert v.rejected == 1 and sorted(v.wrong_status) == ["gave-up", "said-ok", "unrecorded"]
