"""Every projection group, by name. Each has its own consumer group, connection and checkpoints,
so a slow group never holds another back, whether all run in one worker (`gxctl run projectors`)
or each in its own (`gxctl run projector-NAME`)."""

from __future__ import annotations

from projections import governance, identity, ledger, loans, organizations, system
from projections.model import GroupSpec

GROUPS: dict[str, GroupSpec] = {
    g.name: g for g in (identity.GROUP, ledger.GROUP, organizations.GROUP, governance.GROUP, loans.GROUP, system.GROUP)
}


def handled_by(event_name: str) -> list[str]:
    """The groups that fold an event of this type."""
    return [name for name, g in GROUPS.items() if event_name in g.handles]
