"""What a fault run must show, as a pure function of what was read back (bench.faults reads it).

For every command the load enqueued:

- lost: its outbox row never reached a final status (CONFIRMED or FAILED);
- doubled: it took effect more than once: more than one chaincode event carries its requestId in
  the valid transactions of the run's blocks (every one of the 25 functions emits exactly one
  event when it applies), or a wallet moved by more than the confirmed transfers say;
- wrong status: the row disagrees with the ledger: CONFIRMED but the chaincode has no applied
  record of it (or no event), FAILED as a rejection but the chaincode recorded none, or FAILED for
  any other reason although the ledger applied it;
- unexpected dead letters: records of the run on gx.commands.dlq the load did not mean to put there.

The load always holds commands the chaincode must refuse (``must_reject``: over-balance transfers,
a frozen wallet's transfers): each must end FAILED with its recorded rejection, and ``rejected``
counts the commands whose FAILED the ledger's record of a rejection backs, so a run shows that
rejections were in flight during its fault.

Balances: each wallet's change over the run must equal the confirmed transfers into it minus
those out of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

REJECTION_CODES = ("CHAINCODE_REJECTED", "IDEMPOTENCY_CONFLICT")


@dataclass(frozen=True)
class Transfer:
    request_id: str
    from_wallet: str
    to_wallet: str
    amount: int


@dataclass
class Verdict:
    commands: int = 0
    rejected: int = 0  # FAILED as a rejection, backed by the ledger's record of it
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    wrong_status: list[str] = field(default_factory=list)
    unexpected_dead_letters: list[str] = field(default_factory=list)
    balance_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # wallet -> (expected, ledger)

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.doubled or self.wrong_status or self.unexpected_dead_letters or self.balance_mismatches
        )

    def counts(self) -> dict[str, Any]:
        return {
            "commands": self.commands,
            "rejected": self.rejected,
            "lost": len(self.lost),
            "doubled": len(self.doubled),
            "wrong_status": len(self.wrong_status),
            "unexpected_dead_letters": len(self.unexpected_dead_letters),
            "balance_mismatches": len(self.balance_mismatches),
        }


def check(
    enqueued: list[str],
    rows: Mapping[str, tuple[str, str | None]],
    ledger: Mapping[str, bool],
    events: Counter[str],
    dead_letters: list[str],
    expected_dead: AbstractSet[str] = frozenset(),
    transfers: Sequence[Transfer] = (),
    before: Mapping[str, int] | None = None,
    after: Mapping[str, int] | None = None,
    must_reject: AbstractSet[str] = frozenset(),
) -> Verdict:
    """``rows``: requestId -> (status, errorCode) of the outbox; ``ledger``: requestId -> whether the
    chaincode's record is a rejection (absent: no record); ``events``: chaincode events per
    requestId in the run's valid transactions; ``before``/``after``: wallet balances on the ledger;
    ``must_reject``: commands the chaincode refuses by its rules (anything but a recorded
    rejection reported FAILED is a wrong status)."""
    v = Verdict(commands=len(enqueued))
    for rid in enqueued:
        status, code = rows.get(rid, ("MISSING", None))
        applied = rid in ledger and not ledger[rid]
        if status == "FAILED" and code == "CHAINCODE_REJECTED" and ledger.get(rid):
            v.rejected += 1
        if events.get(rid, 0) > 1:
            v.doubled.append(rid)
        if status not in ("CONFIRMED", "FAILED"):
            v.lost.append(rid)
        elif rid in must_reject and not (status == "FAILED" and code == "CHAINCODE_REJECTED" and ledger.get(rid)):
            v.wrong_status.append(rid)
        elif status == "CONFIRMED" and (not applied or events.get(rid, 0) == 0):
            v.wrong_status.append(rid)
        elif status == "FAILED" and code in REJECTION_CODES:
            if code == "CHAINCODE_REJECTED" and not (ledger.get(rid)) and events.get(rid, 0) == 0:
                # A rejection thrown (not recorded) leaves no record: acceptable only with no effect.
                continue
            if applied or events.get(rid, 0):
                v.wrong_status.append(rid)
        elif status == "FAILED" and (applied or events.get(rid, 0)):
            v.wrong_status.append(rid)
    v.unexpected_dead_letters = sorted(set(dead_letters) - set(expected_dead))
    if before is not None and after is not None:
        expected: Counter[str] = Counter()
        for t in transfers:
            if rows.get(t.request_id, ("",))[0] == "CONFIRMED":
                expected[t.from_wallet] -= t.amount
                expected[t.to_wallet] += t.amount
        for wallet in set(before) | set(after) | set(expected):
            want, got = expected.get(wallet, 0), after.get(wallet, 0) - before.get(wallet, 0)
            if want != got:
                v.balance_mismatches[wallet] = (want, got)
    return v
