"""The first load of history over in-memory fakes: boundary, manifest, rerun, handover, guards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.adapters.memory import RecordingNotifier
from shared.export import ExportDeps, ExportOptions
from shared.export.guards import ExportRefused
from shared.export.run import run_history
from tests.unit.export.factories import item, seed, user
from tests.unit.export.history_scenario import HISTORY_AT, at, backfilled, run_scenario

pytestmark = pytest.mark.unit


def test_history_then_daily_deltas_cover_every_click_once(deps: ExportDeps) -> None:
    run_scenario(deps)


def test_with_a_prefix_too(prefixed: ExportDeps) -> None:
    run_scenario(prefixed, ExportOptions(max_part_bytes=4_000, page_size=50))


def test_no_interactions_is_refused_with_an_alert_and_no_boundary(deps: ExportDeps) -> None:
    seed(deps.docs, "ml_items", [item("s1")])
    seed(deps.docs, "ml_users", [user("u1")])
    with pytest.raises(ExportRefused) as refused:
        run_history(at(deps, HISTORY_AT))
    assert refused.value.reason == "empty_interactions"
    assert deps.docs.get("ml_state/export") is None and not deps.import_store.list("")
    assert isinstance(deps.notifier, RecordingNotifier)
    [(subject, _, _)] = deps.notifier.sent
    assert subject == "storyrec export refused: 2026-11-28 (empty_interactions)"


def test_a_rerun_that_differs_is_refused_unless_replaced(deps: ExportDeps) -> None:
    from shared.export.guards import Overrides

    seed(deps.docs, "ml_interactions", [backfilled(i) for i in range(30)])
    seed(deps.docs, "ml_items", [item("s1")])
    seed(deps.docs, "ml_users", [user("u1")])
    first = run_history(at(deps, HISTORY_AT))
    seed(deps.docs, "ml_items", [item("s2")])  # the FULL items snapshot changed since
    with pytest.raises(ExportRefused) as refused:
        run_history(at(deps, HISTORY_AT))
    assert refused.value.reason == "manifest_differs"
    replaced = run_history(at(deps, HISTORY_AT), overrides=Overrides(replace=True))
    assert replaced.run_id == first.run_id and replaced.rows("items") == 2
    assert replace(replaced.window, rerun=False) == first.window
