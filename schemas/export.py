"""JSON Schema for every model, so services in other languages can validate before writing."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.envelopes import CommandEnvelope, CommandResult
from schemas.events import EVENTS, EventEnvelope
from schemas.payloads import PAYLOADS


def all_models() -> dict[str, type[BaseModel]]:
    """File stem -> model, for every model this package publishes."""
    models: dict[str, type[BaseModel]] = {"command-envelope": CommandEnvelope, "command-result": CommandResult}
    for ctype, model in PAYLOADS.items():
        models[f"payload.{ctype.value}"] = model
    models["event-envelope"] = EventEnvelope
    for name, event in EVENTS.items():
        models[f"event.{name}"] = event
    return models


def export(directory: Path) -> list[Path]:
    """Write ``<name>.schema.json`` per model into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in all_models().items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:gx-pipeline:{name}"
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
