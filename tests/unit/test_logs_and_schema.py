"""Structured logs carry the correlation id; the Avro schemas parse into typed columns."""

from __future__ import annotations

import json
import logging

import pytest

from shared.logs import JsonFormatter, correlated, correlation_id
from shared.schema import load_schema

pytestmark = pytest.mark.unit


def test_json_log_lines_carry_correlation_id_and_extras() -> None:
    record = logging.LogRecord("storyrec.capture", logging.INFO, __file__, 1, "click accepted", None, None)
    record.click_id = "c1"
    with correlated("evt-42") as cid:
        assert correlation_id() == cid == "evt-42"
        line = json.loads(JsonFormatter().format(record))
    assert line["correlation_id"] == "evt-42" and line["click_id"] == "c1"
    assert line["severity"] == "INFO" and line["message"] == "click accepted"
    assert correlation_id() is None


def test_schemas_define_personalize_columns() -> None:
    interactions = load_schema("interactions")
    assert interactions.header[:4] == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]
    assert {c.name: c.avro_type for c in interactions.columns}["TIMESTAMP"] == "long"
    items = load_schema("items")
    assert [c.name for c in items.columns if c.categorical] == ["CATEGORY", "TAGS", "SOURCE", "LANGUAGE"]
    assert [c.name for c in items.columns if c.textual] == ["SUMMARY"]
    assert json.loads(load_schema("users").as_json())["name"] == "Users"


def test_an_inner_correlated_block_keeps_the_id_its_handler_bound() -> None:
    with correlated("msg-1"), correlated("run-9") as inner:
        assert inner == correlation_id() == "msg-1"
    with correlated("run-9") as alone:
        assert alone == "run-9"
