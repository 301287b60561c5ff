"""shared.limits: one set of rules, derived from the Avro schemas, shared by capture and export."""

from __future__ import annotations

import pytest

from shared import limits
from shared.capture.validation import Reason
from shared.export import rows
from shared.schema import DATASET_TYPES, load_schema

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("dataset", DATASET_TYPES)
def test_every_schema_column_has_a_rule_derived_from_its_avro_field(dataset: str) -> None:
    schema = load_schema(dataset)
    by_name = {r.column: r for r in limits.rules(dataset)}
    assert list(by_name) == schema.header
    for column in schema.columns:
        rule = by_name[column.name]
        assert rule.nullable is column.nullable
        if column.name in ("USER_ID", "ITEM_ID"):
            assert (rule.kind, rule.max_chars) == (limits.Kind.ID, 256)
        elif column.textual:
            assert (rule.kind, rule.max_chars) == (limits.Kind.TEXTUAL, 20_000)
        elif column.categorical:
            assert (rule.kind, rule.max_chars) == (limits.Kind.CATEGORICAL, 1000)
        # the export checks lengths with the very same numbers
        if column.avro_type == "string":
            assert rows._max_len(column) == rule.max_chars


def test_overlays_name_real_columns_and_every_problem_is_a_quarantine_reason() -> None:
    for dataset, column in limits.FIELD_RULES:
        limits.rule(dataset, column)
    assert {p.value for p in limits.Problem} <= {r.value for r in Reason}


@pytest.mark.parametrize(
    ("value", "formula"),
    [
        ("=1+1", True),
        ("@cmd", True),
        ("+cmd", True),
        ("-x", True),
        ("-4110354420726924665", False),
        ("+12", False),
        ("1.5", False),
        ("web", False),
        ("", False),
        ("a=b", False),
    ],
)
def test_formula_like(value: str, formula: bool) -> None:
    assert limits.formula_like(value) is formula


@pytest.mark.parametrize(
    ("dataset", "column", "value", "problem"),
    [
        ("interactions", "DEVICE", "web", None),
        ("interactions", "DEVICE", "phone", limits.Problem.NOT_IN_VOCABULARY),
        ("interactions", "DEVICE", "=1+1", limits.Problem.FORMULA),
        ("users", "COUNTRY", "BR", None),
        ("users", "COUNTRY", "BRA", limits.Problem.BAD_PATTERN),
        ("users", "LANGUAGE", "pt-br", None),
        ("items", "TAGS", "-2", limits.Problem.FORMULA),
        ("items", "ITEM_ID", "-2", None),
        ("items", "ITEM_ID", "s1/comments/c1", limits.Problem.INVALID_ID),
        ("items", "ITEM_ID", "__id__", limits.Problem.INVALID_ID),
        ("items", "CATEGORY", "a\nb\nc", limits.Problem.CONTROL_CHARS),
        ("items", "CATEGORY", "a,b", limits.Problem.CSV_HOSTILE),
        ("items", "SUMMARY", "x" * 20_001, limits.Problem.TOO_LONG),
    ],
)
def test_rule_problem(dataset: str, column: str, value: str, problem: limits.Problem | None) -> None:
    found = limits.rule(dataset, column).problem(value)  # type: ignore[arg-type]
    assert (found.problem if found else None) == problem


def test_join_multi_keeps_whole_values_in_order_within_the_limit() -> None:
    tags = limits.rule("items", "TAGS")
    cell, dropped = limits.join_multi(tags, ["a" * 600, "b" * 398, "c", "d" * 500])
    assert cell == "a" * 600 + "|" + "b" * 398 and len(cell) == 999
    assert dropped == ["c", "d" * 500]
    assert tags.cell_problem(cell) is None
    assert limits.join_multi(tags, []) == (None, [])


def test_cell_problem_sees_a_formula_that_only_the_joined_cell_shows() -> None:
    assert limits.rule("items", "TAGS").cell_problem("+1|-2") is not None
    assert limits.rule("items", "SUMMARY").cell_problem("'=1+1") is None
    assert limits.rule("items", "SUMMARY").cell_problem("=1+1") is not None


def test_id_problem_follows_firestore_id_rules() -> None:
    assert limits.id_problem("x" * 1500) is None
    assert limits.id_problem("é" * 751) is not None
    assert limits.id_problem(".") is not None and limits.id_problem("..") is not None
    assert limits.id_problem("a/b") is not None and limits.id_problem("") is not None
