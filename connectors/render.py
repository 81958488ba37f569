"""Rendering connector YAML to the JSON Kafka Connect takes. Pure: values come in as arguments."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from connectors.errors import RenderError

OUTBOX_YAML = Path(__file__).parent / "outbox.yaml"
_PLACEHOLDER = re.compile(r"\$\{([a-z_.]+)\}")
SECRET_KEYS = ("database.password",)


def load(path: Path = OUTBOX_YAML) -> dict[str, Any]:
    """The YAML as ``{"name": ..., "config": {...}}``."""
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or "name" not in doc or not isinstance(doc.get("config"), dict):
        raise RenderError("name/config", str(path))
    return doc


def render(doc: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """``{"name", "config"}`` with every ``${x}`` replaced from ``values`` and every value a string.

    Folded YAML lists (``a, b,\\n c``) become plain comma lists. Raises RenderError naming a
    placeholder without a value.
    """
    config: dict[str, str] = {}
    for key, raw in doc["config"].items():
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)

        def sub(m: re.Match[str], key: str = key) -> str:
            if m.group(1) not in values:
                raise RenderError(m.group(1), key)
            return str(values[m.group(1)])

        value = _PLACEHOLDER.sub(sub, value)
        if key.endswith((".placement", ".list")):
            value = re.sub(r"\s*,\s*", ",", value.strip())
        config[key] = value
    return {"name": str(doc["name"]), "config": config}


def masked(rendered: Mapping[str, Any]) -> dict[str, Any]:
    """A copy fit for printing: secrets replaced by ``****``."""
    config = {k: ("****" if k in SECRET_KEYS else v) for k, v in rendered["config"].items()}
    return {"name": rendered["name"], "config": config}


def outbox(
    pg: Mapping[str, object], commands_topic: str, path: Path = OUTBOX_YAML, poll_ms: int | None = None
) -> dict[str, Any]:
    """The outbox connector rendered for a database (``pg``: host, port, user, password, dbname);
    ``poll_ms`` (GX_CONNECT_POLL_MS, at least 1) replaces the YAML's ``poll.interval.ms``."""
    values = {f"pg.{k}": str(v) for k, v in pg.items()} | {"topic.commands": commands_topic}
    doc = render(load(path), values)
    if poll_ms is not None:
        doc["config"]["poll.interval.ms"] = str(poll_ms)
    return doc
