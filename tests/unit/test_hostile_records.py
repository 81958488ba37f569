"""The fault harness's hostile records (bench.hostile_records): what they are, and which lack a dead letter."""

from __future__ import annotations

import json

import pytest

from bench.hostile_records import KINDS, Sent, missing, records
from gxcommon.record_limits import MAX_RECORD_BYTES


def test_each_kind_is_a_record_no_command_reader_can_take() -> None:
    made = {kind: (key, value, dict(headers)) for kind, key, value, headers in records("chaos-h", "t1")}
    assert tuple(made) == KINDS
    with pytest.raises(UnicodeDecodeError):
        made["key-not-utf8"][0].decode()  # type: ignore[union-attr]
    assert made["no-key"][0] is None
    with pytest.raises(ValueError):
        json.loads(made["value-not-json"][1])
    header = made["header-not-utf8"][2]["requestId"]
    assert isinstance(header, bytes)
    with pytest.raises(UnicodeDecodeError):
        header.decode()
    assert MAX_RECORD_BYTES - 3000 < len(made["near-size-limit"][1]) <= MAX_RECORD_BYTES
    # Beside what makes each one hostile, the record is a well-formed command of the tenant.
    assert json.loads(made["no-key"][1])["tenantId"] == "chaos-h"


def test_a_record_without_a_dead_letter_naming_its_partition_and_offset_is_missing() -> None:
    sent = [Sent("no-key", 0, 10), Sent("value-not-json", 0, 11), Sent("no-key", 3, 10)]
    letters = {(0, 10): "INVALID_KEY", (3, 11): "INVALID_KEY"}  # the wrong offset on partition 3
    assert missing(sent, letters) == ["value-not-json at 0@11", "no-key at 3@10"]
    assert missing(sent, {(0, 10): "A", (0, 11): "B", (3, 10): "C"}) == []
