"""What the read models must hold, derived from the ledger; and the comparison. Pure.

Ten tables come from the chaincode's world state (ledger objects as the QueryContract returns
them); TransactionHistory and GenesisDistribution, which the world state does not keep, come from
the events of the ledger's blocks (:func:`expected_history`). Read-model rows in, differences out.
The ledger's values are taken as the read models can store them (projections.storable: NUL as
U+FFFD), and a difference over a row the read models cannot hold at all (an indexed value too long
for an index entry) is marked so (``representable`` False): the limit of the read model, not drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from projections.storable import holdable, storable
from schemas import events as ev

Rows = dict[tuple[Any, ...], dict[str, Any]]

KEYS: dict[str, tuple[str, ...]] = {
    "User": ("userId",),
    "Application": ("applicationId",),
    "Wallet": ("walletId",),
    "LegalTenderStatus": ("countryCode",),
    "Organization": ("orgId",),
    "MultiSigTx": ("orgId", "multisigTxId"),
    "Loan": ("loanId",),
    "Proposal": ("proposalId",),
    "Vote": ("proposalId", "voterId"),
    "SystemConfig": ("key",),
}
# The columns compared per table (timestamps and bookkeeping columns are the projection's own).
COLUMNS: dict[str, tuple[str, ...]] = {
    "User": ("email", "firstName", "lastName", "country", "kycStatus", "isAdmin"),
    "Application": ("userId", "kind", "status"),
    "Wallet": ("ownerId", "ownerType", "balance", "frozen", "frozenReason"),
    "LegalTenderStatus": ("countryName", "treasuryActive", "genesisDistributed"),
    "Organization": ("name", "proposerId", "status", "members", "requiredApprovals", "walletId"),
    "MultiSigTx": ("initiatorId", "toWalletId", "amount", "approvals", "status"),
    "Loan": ("borrowerId", "amount", "status", "approverId"),
    "Proposal": ("proposerId", "title", "parameter", "value", "status", "votesFor", "votesAgainst"),
    "Vote": ("vote",),
    "SystemConfig": ("value",),
    # From the blocks' events, up to one height (projections.verify).
    "TransactionHistory": (
        "txId",
        "blockNumber",
        "txIndex",
        "kind",
        "fromWalletId",
        "toWalletId",
        "amount",
        "requestId",
    ),
    "GenesisDistribution": ("countryCode", "userId", "amount", "blockNumber"),
}
HISTORY_KEYS: dict[str, tuple[str, ...]] = {"TransactionHistory": ("id",), "GenesisDistribution": ("id",)}


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    field: str  # "(row)" for a missing or extra row
    ledger: Any
    read_model: Any
    representable: bool = True  # False: the read model cannot hold the ledger's row (too long to index)
    row_key: tuple[Any, ...] = ()  # the row's key itself (``key`` is its label)

    def line(self) -> str:
        if not self.representable:
            return (
                f"{self.table}[{_short(self.key)}]: the read model cannot hold this row (an indexed value over "
                "2,600 bytes); its events are dead-lettered"
            )
        if self.field == "(history)":
            return (
                f"Wallet[{self.key}].balance {self.ledger!r} is not the net of its TransactionHistory moves "
                f"({self.read_model!r})"
            )
        if self.field == "(row)":
            where = "missing from the read model" if self.read_model is None else "not on the ledger"
            return f"{self.table}[{self.key}]: {where}"
        return f"{self.table}[{self.key}].{self.field}: ledger {self.ledger!r}, read model {self.read_model!r}"


def _short(key: str, limit: int = 80) -> str:
    return key if len(key) <= limit else f"{key[:limit]}... ({len(key)} characters)"


def _index(table: str, rows: Iterable[dict[str, Any]], keys: Mapping[str, tuple[str, ...]] = KEYS) -> Rows:
    """Rows by key, every value as the read models can store it."""
    return {tuple(r[k] for k in keys[table]): r for r in (storable(r) for r in rows)}


def expected(state: Mapping[str, Any]) -> dict[str, Rows]:
    """Read-model rows implied by the ledger. ``state`` has a list per kind (user, wallet, country,
    org, msig, loan, proposal, vote) and ``status``, ``params``, ``admins`` of the system."""
    admins = list(state.get("admins") or [])
    status = state.get("status") or {}
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in KEYS}
    for u in state.get("user", []):
        out["User"].append(
            {
                "userId": u["userId"],
                "email": u["email"],
                "firstName": u["firstName"],
                "lastName": u["lastName"],
                "country": u["country"],
                "kycStatus": u["kycStatus"],
                "isAdmin": u["userId"] in admins,
            }
        )
        out["Application"].append(
            {"applicationId": f"KYC:{u['userId']}", "userId": u["userId"], "kind": "KYC", "status": u["kycStatus"]}
        )
    for w in state.get("wallet", []):
        out["Wallet"].append(
            {
                "walletId": w["walletId"],
                "ownerId": w["ownerId"],
                "ownerType": w["ownerType"],
                "balance": int(w["balance"]),
                "frozen": bool(w["frozen"]),
                "frozenReason": w.get("frozenReason"),
            }
        )
    for c in state.get("country", []):
        out["LegalTenderStatus"].append(
            {
                "countryCode": c["countryCode"],
                "countryName": c["countryName"],
                "treasuryActive": bool(c["treasuryActive"]),
                "genesisDistributed": int(c["genesisDistributed"]),
            }
        )
    for o in state.get("org", []):
        out["Organization"].append(
            {
                "orgId": o["orgId"],
                "name": o["name"],
                "proposerId": o["proposerId"],
                "status": o["status"],
                "members": list(o["members"]),
                "requiredApprovals": int(o["requiredApprovals"]),
                "walletId": o.get("walletId") if o["status"] == "ACTIVE" else None,
            }
        )
    for m in state.get("msig", []):
        out["MultiSigTx"].append(
            {
                "orgId": m["orgId"],
                "multisigTxId": m["multisigTxId"],
                "initiatorId": m["initiatorId"],
                "toWalletId": m["toWalletId"],
                "amount": int(m["amount"]),
                "approvals": list(m["approvals"]),
                "status": m["status"],
            }
        )
    for loan in state.get("loan", []):
        out["Loan"].append(
            {
                "loanId": loan["loanId"],
                "borrowerId": loan["borrowerId"],
                "amount": int(loan["amount"]),
                "status": loan["status"],
                "approverId": loan.get("approverId"),
            }
        )
    for p in state.get("proposal", []):
        out["Proposal"].append(
            {
                k: p[k]
                for k in (
                    "proposalId",
                    "proposerId",
                    "title",
                    "parameter",
                    "value",
                    "status",
                    "votesFor",
                    "votesAgainst",
                )
            }
        )
    for v in state.get("vote", []):
        out["Vote"].append({"proposalId": v["proposalId"], "voterId": v["voterId"], "vote": v["vote"]})
    if status.get("bootstrapped"):
        # Admins are appointed under their own keys (partitions): the read model's order of
        # appointment may differ from the ledger's, so the set is compared (sorted).
        cfg = {
            "bootstrapped": True,
            "paused": bool(status.get("paused")),
            "pauseReason": status.get("pauseReason"),
            "admins": sorted(admins),
        }
        cfg.update({f"param.{k}": v for k, v in (state.get("params") or {}).items()})
        out["SystemConfig"] = [{"key": k, "value": v} for k, v in cfg.items()]
    return {t: _index(t, rows) for t, rows in out.items()}


def expected_history(events: Iterable[tuple[Any, Any]]) -> dict[str, Rows]:
    """TransactionHistory and GenesisDistribution rows implied by ``events``: (envelope, payload)
    pairs (schemas.events) of the ledger's valid transactions, in any order. One history row per
    event that moves money, keyed ``txId:eventIndex``; one distribution row per GenesisDistributed."""
    history: list[dict[str, Any]] = []
    genesis: list[dict[str, Any]] = []
    for env, p in events:
        move: tuple[str, str | None, str, int] | None = None
        match p:
            case ev.SystemBootstrapped(poolWalletId=pool, supply=n):
                move = ("SUPPLY", None, pool, n)
            case ev.GenesisDistributed(userId=u, amount=n, fromWalletId=pool, countryCode=c):
                move = ("GENESIS", pool, u, n)
                genesis.append(
                    {
                        "id": env.event_id,
                        "countryCode": c,
                        "userId": u,
                        "amount": int(n),
                        "blockNumber": env.block,
                        "committedAt": env.commitTime,
                    }
                )
            case ev.TokensTransferred(fromWalletId=a, toWalletId=b, amount=n):
                move = ("TRANSFER", a, b, n)
            case ev.MultiSigTxExecuted(fromWalletId=a, toWalletId=b, amount=n):
                move = ("MULTISIG", a, b, n)
            case ev.LoanApproved(fromWalletId=a, borrowerId=b, amount=n):
                move = ("LOAN", a, b, n)
            case ev.VelocityTaxApplied(walletId=a, treasuryWalletId=b, amount=n):
                move = ("TAX", a, b, n)
        if move is not None:
            kind, src, dst, n = move
            history.append(
                {
                    "id": env.event_id,
                    "txId": env.txId,
                    "blockNumber": env.block,
                    "txIndex": env.txIndex,
                    "kind": kind,
                    "fromWalletId": src,
                    "toWalletId": dst,
                    "amount": int(n),
                    "requestId": p.requestId,
                    "committedAt": env.commitTime,  # not compared; what a repair writes
                }
            )
    return {
        "TransactionHistory": _index("TransactionHistory", history, HISTORY_KEYS),
        "GenesisDistribution": _index("GenesisDistribution", genesis, HISTORY_KEYS),
    }


def _norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    try:
        from decimal import Decimal

        if isinstance(v, Decimal):
            return int(v)
    except ImportError:  # pragma: no cover
        pass
    return v


# SystemConfig keys the projection keeps that the ledger has no state for, and their defaults
# when absent on the read side.
SYSTEM_ONLY = {"supply"}
SYSTEM_DEFAULTS: dict[str, Any] = {"paused": False, "pauseReason": None, "admins": []}


def compare(want: Mapping[str, Rows], have: Mapping[str, Rows]) -> list[Difference]:
    """Every difference between the expected and the actual read models, table by table."""
    out = []
    for table, rows in want.items():
        actual = dict(have.get(table, {}))
        if table == "SystemConfig":
            for k in SYSTEM_ONLY:
                actual.pop((k,), None)
            if ("admins",) in actual and isinstance(actual[("admins",)].get("value"), list):
                actual[("admins",)] = {**actual[("admins",)], "value": sorted(actual[("admins",)]["value"])}
            for k, default in SYSTEM_DEFAULTS.items():
                if (k,) in rows and (k,) not in actual and rows[(k,)]["value"] == default:
                    actual[(k,)] = {"key": k, "value": default}
        for key, row in rows.items():
            label = ":".join(str(k) for k in key)
            got = actual.get(key)
            fits = holdable(table, row)
            if got is None:
                out.append(Difference(table, label, "(row)", row, None, fits, key))
                continue
            for col in COLUMNS[table]:
                a, b = _norm(row.get(col)), _norm(got.get(col))
                if a != b:
                    out.append(Difference(table, label, col, a, b, fits, key))
        for key in actual.keys() - rows.keys():
            out.append(Difference(table, ":".join(str(k) for k in key), "(row)", None, actual[key], True, key))
    return out


def history_differences(balances: Mapping[str, int], net: Mapping[str, int]) -> list[Difference]:
    """Wallets whose balance is not the sum of their TransactionHistory moves."""
    return [
        Difference("TransactionHistory", w, "(history)", balances[w], net.get(w, 0))
        for w in sorted(balances)
        if balances[w] != net.get(w, 0)
    ]
