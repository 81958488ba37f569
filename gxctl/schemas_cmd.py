"""`gxctl schemas list | show TYPE | export DIR`: the 25 command types and their payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gxcommon.tables import rows_table
from gxctl.output import emit, json_option


@click.group("schemas")
def schemas() -> None:
    """Command types, their payloads and the envelopes."""


def _fields(model: Any) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or " | ".join(p.get("type", "?") for p in prop.get("anyOf", [])) or "?"
        rules = [
            f"{k}={prop[k]}"
            for k in ("minLength", "maxLength", "pattern", "exclusiveMinimum", "minimum", "maximum", "enum")
            if k in prop
        ]
        out.append(
            {
                "field": name,
                "type": kind,
                "required": "yes" if name in required else "no",
                "rules": ", ".join(rules) or "-",
            }
        )
    return out


@schemas.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """The 25 command types: the chaincode function each calls, its Kafka key and its fields."""
    from schemas.command_types import CommandType
    from schemas.payloads import PAYLOADS
    from schemas.routing import ROUTES

    rows = []
    for t in CommandType:
        route = ROUTES[t]
        fields = _fields(PAYLOADS[t])
        rows.append(
            {
                "type": t.value,
                "chaincode": f"{route.contract}:{route.function}",
                "key": route.describe_key(),
                "fields": ", ".join(f["field"] + ("" if f["required"] == "yes" else "?") for f in fields) or "-",
            }
        )
    emit(
        rows,
        as_json,
        lambda r: (
            rows_table(r, ["type", "chaincode", "key", "fields"])
            + "\n\n(? = optional; gxctl schemas show TYPE for types, rules and an example)"
        ),
    )


@schemas.command("show")
@click.argument("command_type")
@json_option
def show_cmd(command_type: str, as_json: bool) -> None:
    """COMMAND_TYPE's payload: each field with its type, whether it is required, its rules, and an
    example (any case: create_user is CREATE_USER)."""
    from schemas.examples import example
    from schemas.payloads import PAYLOADS
    from schemas.payloads import command_type as parse_type
    from schemas.routing import ROUTES

    t = parse_type(command_type)
    data = {
        "type": t.value,
        "chaincode": f"{ROUTES[t].contract}:{ROUTES[t].function}",
        "key": ROUTES[t].describe_key(),
        "fields": _fields(PAYLOADS[t]),
        "example": example(t),
    }
    emit(
        data,
        as_json,
        lambda d: "\n".join(
            [
                f"{d['type']}  ->  {d['chaincode']}  (Kafka key: {d['key']})",
                "",
                rows_table(d["fields"], ["field", "type", "required", "rules"]) if d["fields"] else "(no fields)",
                "",
                "example:",
                json.dumps(d["example"], indent=2),
                f"\ngxctl commands enqueue --type {d['type']} --payload '{json.dumps(d['example'])}' ...",
            ]
        ),
    )


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
def export_cmd(directory: Path, as_json: bool) -> None:
    """Write a JSON Schema file per model into DIRECTORY."""
    from schemas.export import export

    paths = export(directory)
    emit([str(p) for p in paths], as_json, lambda ps: f"wrote {len(ps)} schemas to {directory}")
