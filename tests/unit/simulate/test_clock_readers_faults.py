"""The simulation's pure parts: the virtual clock, the reader model, the fault plan and its alert matching."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.readers import MODELS
from infra.local.simulate import faults
from infra.local.simulate.clock import VirtualClock, install, uninstall
from infra.local.simulate.readers import ReaderModel, Story

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_the_virtual_clock_becomes_the_products_clock_even_where_it_was_bound_as_a_default() -> None:
    from shared import wiring
    from shared.export import wiring as export_wiring

    real = wiring.utc_now
    clock = VirtualClock(T0)
    install(clock)
    try:
        assert wiring.utc_now() == T0
        assert export_wiring.connect.__defaults__ is not None
        assert all(d() == T0 for d in export_wiring.connect.__defaults__ if callable(d))
        clock.advance(timedelta(hours=3))
        assert wiring.stage_deps.__module__ == "shared.wiring" and wiring.utc_now() == T0 + timedelta(hours=3)
    finally:
        uninstall()
    assert wiring.utc_now is real
    assert export_wiring.connect.__defaults__ == (real,)
    assert abs(wiring.utc_now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_virtual_clock_never_goes_back_and_needs_an_aware_time() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError, match="does not go back"):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2026, 1, 1))


def _stories(model: ReaderModel, n: int) -> dict[str, Story]:
    return {f"s{i}": Story(f"s{i}", model.story_topic(), T0 - timedelta(hours=i)) for i in range(n)}


def test_the_same_seed_gives_the_same_readers_and_clicks() -> None:
    def run(seed: int) -> list[str]:
        model = ReaderModel(MODELS["stable"], np.random.default_rng(seed))
        stories = _stories(model, 30)
        readers = [model.new_reader(f"r{i}") for i in range(20)]
        return [c.sid for r in readers for c in model.visit(r, list(stories)[:10], list(stories)[10:20], stories, T0)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_reader_never_clicks_a_story_twice() -> None:
    model = ReaderModel(MODELS["stable"], np.random.default_rng(0))
    stories = _stories(model, 5)
    reader = model.new_reader("r")
    reader.tastes = np.full(model.topics, 1.0 / model.topics)
    seen: list[str] = []
    for _ in range(200):
        seen += [c.sid for c in model.visit(reader, list(stories), list(stories), stories, T0)]
    assert len(seen) == len(set(seen))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60))
def test_the_oracle_feed_is_an_upper_bound_on_any_feed(seed: int, n: int) -> None:
    model = ReaderModel(MODELS["drifting"], np.random.default_rng(seed))
    stories = _stories(model, n)
    reader = model.new_reader("r")
    size = model.params.feed_shown
    oracle = model.expected_clicks(reader, model.oracle_feed(reader, stories, T0, size), stories, T0)
    rng = np.random.default_rng(seed + 1)
    for _ in range(5):
        feed = list(rng.permutation(list(stories)))[:size]
        assert model.expected_clicks(reader, feed, stories, T0) <= oracle + 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 80), size=st.integers(1, 12))
def test_the_oracle_feeds_of_many_readers_are_each_readers_ranking_by_appeal(seed: int, n: int, size: int) -> None:
    """The batch path (stories' freshness once a night) ranks exactly as one ``appeal`` per story and reader."""
    model = ReaderModel(MODELS["drifting"], np.random.default_rng(seed))
    stories = _stories(model, n)
    readers = [model.new_reader(f"r{i}") for i in range(6)]
    rng = np.random.default_rng(seed + 1)
    for i, reader in enumerate(readers):
        reader.read = {sid for sid in stories if rng.random() < 0.3}
        if i == 1:
            reader.tastes = np.full(model.topics, 1.0 / model.topics)  # ties everywhere: broken by story id
        if i == 2:
            reader.tastes = reader.tastes[:2]  # a topic the reader has no taste for yet
    now = T0 + timedelta(hours=int(rng.integers(0, 72)))
    got = model.oracle_feeds(readers, stories, now, size)
    for reader in readers:
        scored = sorted((-model.appeal(reader, s, now), sid) for sid, s in stories.items() if sid not in reader.read)
        assert got[reader.uid] == [sid for _, sid in scored[:size]]
        assert model.oracle_feed(reader, stories, now, size) == got[reader.uid]


def test_drifting_readers_gain_a_topic_on_schedule_and_keep_normalised_tastes() -> None:
    model = ReaderModel(MODELS["drifting"], np.random.default_rng(1))
    readers = [model.new_reader(f"r{i}") for i in range(50)]
    every = MODELS["drifting"].new_topic_every_days
    added = [model.end_of_day(readers, day) for day in range(1, every + 1)]
    assert added[-1] and sum(added) == 1 and model.topics == MODELS["drifting"].topics + 1
    assert all(len(r.tastes) == model.topics and abs(r.tastes.sum() - 1) < 1e-9 for r in readers)
    assert any(r.tastes[-1] >= 0.45 for r in readers)  # adopters: half their taste, then one drift step


def test_the_default_plan_has_every_fault_kind(tmp_path: Path) -> None:
    plan = faults.load_plan(None)
    assert {f.kind for f in plan} == set(faults.KINDS) - set(faults.NOT_IN_DEFAULT_PLAN)
    assert all(f.day < 5 for f in plan if f.kind not in faults.VERSION_FAULTS)  # a five-day run meets each once
    # version faults wait for the trainings after the first two (the first promotion, and one judged against it):
    # a version's metrics missing, then one worse than what serves, then one failing, each taken by the next training
    versions = sorted((f.day, f.kind) for f in plan if f.kind in faults.VERSION_FAULTS)
    assert [k for _, k in versions] == ["version_metrics_missing", "version_worse", "version_fails"]
    assert all(d > 61 and d + 31 < 180 for d, _ in versions)  # a 180-day run has a training after each


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "{}",
        '{"faults": [{"day": 1, "kind": "meteor"}]}',
        '{"faults": [{"day": -1, "kind": "s3_event_dropped"}]}',
        '{"faults": [], "hostile_per_day": -1}',
        '{"faults": [], "hostile_per_day": "4"}',
        '{"faults": [], "hostile_per_day": true}',
        '{"faults": [], "hostile_impressions_per_day": -2}',
        '{"faults": [], "hostile_impressions_per_day": 1.5}',
        "{",
    ],
)
def test_a_bad_plan_is_refused_with_its_file_named(tmp_path: Path, body: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(body)
    with pytest.raises(faults.PlanError, match=r"plan\.json"):
        faults.load_plan(path)


def test_a_plan_sets_the_steady_rate_of_hostile_writes(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"faults": [], "hostile_per_day": 12}))
    assert faults.read_plan(path).hostile_per_day == 12
    path.write_text(json.dumps({"faults": []}))
    assert faults.read_plan(path).hostile_per_day is None  # the world's default
    assert faults.read_plan(None).hostile_per_day == 4
    path.write_text(json.dumps({"faults": [], "hostile_impressions_per_day": 40}))
    assert faults.read_plan(path).hostile_impressions_per_day == 40 and faults.read_plan(path).hostile_per_day is None
    assert faults.read_plan(None).hostile_impressions_per_day == 4


def test_a_fault_repeats_every_n_days(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"faults": [{"day": 2, "kind": "s3_event_dropped", "every": 7}]}))
    [fault] = faults.load_plan(path)
    assert [d for d in range(20) if fault.on(d)] == [2, 9, 16]


def test_alerts_are_matched_one_per_fault_and_the_rest_explained_or_reported() -> None:
    unmatched, unexplained, notes = faults.match_alerts(
        {"s3_down_export", "s3_event_dropped"},
        ["storyrec export failed: 2026-12-01 at upload_s3", "storyrec feed fill degraded"],
        {"feed fill degraded": "no campaign yet"},
    )
    assert unmatched == [] and unexplained == [] and notes == ["storyrec feed fill degraded: no campaign yet"]
    unmatched, unexplained, _ = faults.match_alerts({"gcs_down_export"}, ["storyrec training stuck"], {})
    assert unmatched == ["gcs_down_export: no 'export failed' alert"] and unexplained == ["storyrec training stuck"]
    unmatched, _, _ = faults.match_alerts({"s3_down_export"}, ["x export failed a", "x export failed b"], {})
    assert unmatched == ["s3_down_export: 2 'export failed' alerts"]
