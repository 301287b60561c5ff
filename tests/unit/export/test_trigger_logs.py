"""One export trigger logs in the product's one schema, every line under the Pub/Sub message's id (the
export's run id, bound inside, does not replace it)."""

from __future__ import annotations

import pytest

from shared.export import ExportDeps
from tests.unit.export.test_entrypoints import _deliver, _function_module, wired
from tests.unit.log_lines import SCHEMA, captured

pytestmark = pytest.mark.unit
__all__ = ["wired"]  # the fixture, imported to be used here


def test_every_line_of_an_export_trigger_has_the_schema_and_the_message_id(wired: ExportDeps) -> None:
    module = _function_module()
    with captured() as lines:
        _deliver(module, {"date": "2026-11-28"}, message_id="msg-7")
    assert any(line["message"] == "export started" for line in lines)
    assert all(set(line) >= SCHEMA for line in lines)
    assert {line["correlation_id"] for line in lines} == {"msg-7"}
    started = next(line for line in lines if line["message"] == "export started")
    assert started["run_id"]  # the run id is still on the line that starts the run, as a field
