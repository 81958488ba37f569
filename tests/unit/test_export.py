import json
from pathlib import Path

import jsonschema

from schemas.command_types import CommandType
from schemas.examples import example
from schemas.export import export


def test_export_writes_a_valid_schema_per_model_that_accepts_the_examples(tmp_path: Path) -> None:
    paths = export(tmp_path)
    names = {p.name for p in paths}
    assert "command-envelope.schema.json" in names
    assert len([n for n in names if n.startswith("payload.")]) == 25
    for ctype in CommandType:
        schema = json.loads((tmp_path / f"payload.{ctype.value}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(example(ctype, 1), schema)
    transfer = json.loads((tmp_path / "payload.TRANSFER_TOKENS.schema.json").read_text())
    bad = {"fromWalletId": "a", "toWalletId": "b", "amount": 0, "extra": 1}
    errors = list(jsonschema.Draft202012Validator(transfer).iter_errors(bad))
    assert {e.validator for e in errors} >= {"exclusiveMinimum", "additionalProperties"}
