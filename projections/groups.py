"""Every projection group, by name. Each runs as its own worker (`gxctl run projector-NAME`) with
its own consumer group and checkpoints, so a slow group never holds another back."""

from __future__ import annotations

from projections import governance, identity, ledger, loans, organizations, system
from projections.model import GroupSpec

GROUPS: dict[str, GroupSpec] = {g.name: g for g in (
    identity.GROUP, ledger.GROUP, organizations.GROUP, governance.GROUP, loans.GROUP, system.GROUP)}


def handled_by(event_name: str) -> list[str]:
    """The groups that fold an event of this type."""
    return [name for name, g in GROUPS.items() if event_name in g.handles]
