"""Bad and odd ML records: each is repaired to Personalize's format or rejected with a reason."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.export.csvfiles import csv_line
from shared.export.rows import RowConverter
from shared.ports import Snapshot
from shared.schema import DatasetType, load_schema
from tests.unit.export.factories import DAY_START, interaction, item, read_csv, user

pytestmark = pytest.mark.unit


def _convert(dataset: DatasetType, data: dict[str, Any]) -> tuple[list[str] | None, RowConverter]:
    """The record's CSV cells as Personalize will read them back, or None if rejected."""
    converter = RowConverter(load_schema(dataset))
    line = converter.convert(Snapshot("doc-1", "x/doc-1", data))
    if line is None:
        return None, converter
    [cells] = read_csv(line.encode("utf-8"))
    return cells, converter


def _click(**overrides: Any) -> dict[str, Any]:
    return interaction(1, DAY_START, **overrides)[1]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"USER_ID": None}, "missing_required"),
        ({"USER_ID": ""}, "missing_required"),
        ({"USER_ID": 42}, "bad_string"),
        ({"USER_ID": "u" * 257}, "too_long"),
        ({"ITEM_ID": None}, "missing_required"),
        ({"ITEM_ID": ["s1"]}, "bad_string"),
        ({"TIMESTAMP": None}, "missing_required"),
        ({"TIMESTAMP": "1764288000"}, "bad_long"),
        ({"TIMESTAMP": True}, "bad_long"),
        ({"TIMESTAMP": 1.5}, "bad_long"),
        ({"TIMESTAMP": -5}, "negative_long"),
        ({"TIMESTAMP": datetime(2026, 11, 28)}, "bad_long"),  # naive: the zone is unknown
        ({"EVENT_TYPE": None}, "missing_required"),
        ({"EVENT_TYPE": {"x": 1}}, "bad_string"),
        ({"EVENT_VALUE": "12"}, "bad_float"),
        ({"EVENT_VALUE": math.nan}, "bad_float"),
        ({"EVENT_VALUE": math.inf}, "bad_float"),
        ({"EVENT_VALUE": True}, "bad_float"),
        ({"DEVICE": 3}, "bad_string"),
        ({"DEVICE": "d" * 1001}, "too_long"),
        ({"DEVICE": ["ios", 7]}, "bad_string"),
        # capture's checks (tests/corpus/export_cases.py has the whole class)
        ({"DEVICE": ["ios", "web"]}, "csv_hostile"),
        ({"DEVICE": 'a,"b"'}, "csv_hostile"),
        ({"DEVICE": "lone\rreturn"}, "control_chars"),
        ({"USER_ID": "=1+1"}, "formula_like"),
        ({"EVENT_TYPE": "purchase"}, "not_in_vocabulary"),
        ({"TIMESTAMP": 10**15}, "future_timestamp"),
        ({"EVENT_VALUE": -1.0}, "invalid_value"),
    ],
)
def test_bad_interaction_is_rejected_with_reason(overrides: dict[str, Any], reason: str) -> None:
    row, converter = _convert("interactions", _click(**overrides))
    assert row is None
    assert converter.rejected == {reason: 1}
    assert converter.rejected_ids == ["doc-1"]


def test_missing_field_is_rejected_when_required() -> None:
    data = _click()
    del data["ITEM_ID"]
    row, converter = _convert("interactions", data)
    assert row is None and converter.rejected_total == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TIMESTAMP": 1_795_824_000.0}, {2: "1795824000"}),
        ({"TIMESTAMP": datetime(2026, 11, 28, 1, tzinfo=timezone(timedelta(hours=1)))}, {2: "1795824000"}),
        ({"EVENT_VALUE": 3}, {4: "3.0"}),
        ({"EVENT_VALUE": 0.1}, {4: "0.1"}),
        ({"EVENT_VALUE": 1e-7}, {4: "1e-07"}),
        ({"EVENT_VALUE": None}, {4: ""}),
        ({"DEVICE": ""}, {5: ""}),
        ({"DEVICE": []}, {5: ""}),
        ({"DEVICE": ["ios"]}, {5: "ios"}),
        ({"DEVICE": " Web "}, {5: "web"}),
        ({"EVENT_TYPE": "READ"}, {3: "read"}),
    ],
)
def test_repairable_interaction_values(overrides: dict[str, Any], expected: dict[int, str]) -> None:
    row, converter = _convert("interactions", _click(**overrides))
    assert row is not None and converter.rejected_total == 0
    for index, value in expected.items():
        assert row[index] == value


def test_absent_optional_fields_become_nulls() -> None:
    data = _click()
    del data["EVENT_VALUE"], data["DEVICE"]
    row, _ = _convert("interactions", data)
    assert row is not None and row[4:] == ["", "", "", "", ""]  # and no attribution, no impression


def test_categorical_list_values_never_smuggle_a_separator() -> None:
    row, _ = _convert("items", item("s1", TAGS=["politics|world", " ", "eu "])[1])
    assert row is not None
    assert row[3] == "politics world|eu"


@pytest.mark.parametrize("text", ["a,b", 'say "hi"', "two\nlines", "cr\ronly", "crlf\r\n", "|", "📰 עברית"])
def test_text_needing_quotes_leaves_the_fast_path_and_round_trips(text: str) -> None:
    row, _ = _convert("items", item("s1", SUMMARY=text)[1])
    assert row is not None and row[6] == text


@pytest.mark.parametrize("text", ["a,b", 'say "hi"', "two\nlines", "cr\ronly", "mid\r\ncrlf"])
def test_ids_and_categories_capture_would_refuse_are_rejected(text: str) -> None:
    for overrides in ({"ITEM_ID": text}, {"CATEGORY": text}):
        row, converter = _convert("items", item("s1", **overrides)[1])
        assert row is None and set(converter.rejected) <= {"csv_hostile", "control_chars"}


def test_item_extra_fields_are_ignored_and_order_follows_the_schema() -> None:
    row, _ = _convert("items", item("s1", TITLE="x", SURPRISE=1)[1])
    assert row == ["s1", "1764000000", "news", "a|b", "wire", "en", "Summary of s1"]


def test_textual_field_allows_long_text_but_not_unbounded() -> None:
    ok, _ = _convert("items", item("s1", SUMMARY="w" * 20_000)[1])
    too_long, converter = _convert("items", item("s1", SUMMARY="w" * 20_001)[1])
    assert ok is not None and too_long is None and converter.rejected == {"too_long": 1}


def test_user_without_id_is_rejected() -> None:
    row, converter = _convert("users", user("", COUNTRY=None)[1])
    assert row is None and converter.rejected == {"missing_required": 1}


def test_valid_records_become_their_columns_in_schema_order() -> None:
    converter = RowConverter(load_schema("interactions"))
    header = load_schema("interactions").header
    for n in range(30):
        data = interaction(n, DAY_START + timedelta(minutes=n))[1]
        line = converter.convert(Snapshot(f"c{n}", f"ml_interactions/c{n}", data))
        assert line == csv_line([data.get(c) for c in header])


def test_aware_utc_datetime_timestamp_is_epoch_seconds() -> None:
    row, _ = _convert("interactions", _click(TIMESTAMP=datetime(2026, 11, 28, tzinfo=UTC)))
    assert row is not None and row[2] == "1795824000"
