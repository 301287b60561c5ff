"""Sharded export: a day above rows_per_run fans out; duplicated and reordered shard messages still give
exactly one manifest, one watermark advance and every row exactly once."""

from __future__ import annotations

import base64
import itertools
import json
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.export import ExportDeps
from shared.export.guards import ExportRefused, Overrides
from shared.export.run import run_export, run_export_event
from shared.export.shards import Shard, plan_shards
from shared.export.trigger import parse_request
from shared.export.window import Window
from tests.unit.export.factories import DAY, DAY_START, END, day_of_clicks, expected_interactions, item, read_csv, seed
from tests.unit.export.factories import user as make_user

pytestmark = pytest.mark.unit


class RecordingPublisher:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def publish(self, body: Mapping[str, Any]) -> str:
        self.bodies.append(json.loads(json.dumps(body)))  # what survives the wire
        return str(len(self.bodies))


@pytest.fixture
def sharded(deps: ExportDeps) -> ExportDeps:
    docs = deps.docs
    return replace(deps, publisher=RecordingPublisher(), count=StoreCounter(docs), rows_per_run=100)


def _deliver(deps: ExportDeps, body: dict[str, Any]) -> Any:
    request = parse_request(base64.b64encode(json.dumps(body).encode()))
    assert request.day is not None
    return run_export_event(request.day, deps, None, request.overrides, request.shard)


def _seed(deps: ExportDeps, clicks: int = 1000) -> list[tuple[str, dict[str, Any]]]:
    inside = day_of_clicks(clicks)
    seed(deps.docs, "ml_interactions", inside)
    seed(deps.docs, "ml_items", [item(f"s{i}") for i in range(7)])
    seed(deps.docs, "ml_users", [make_user(f"u{i}") for i in range(5)])
    return inside


def test_plan_covers_the_window_without_gaps_and_balances_rows_per_shard() -> None:
    window = Window(DAY_START - timedelta(days=400), END)
    # a busy lunch hour: 1,000 clicks in 10 minutes, 50 spread over the rest of the day
    times = [DAY_START + timedelta(hours=12, seconds=0.6 * i) for i in range(1000)]
    times += [DAY_START + timedelta(minutes=25 * i) for i in range(50)]
    shards = plan_shards(window, min(times), len(times), 100, lambda t: sum(1 for x in times if x < t))
    ranges = [s for s in shards if not s.snapshots]
    assert len(ranges) == 11 and shards[-1].snapshots and all(s.count == 12 for s in shards)
    assert ranges[0].start == window.start and ranges[-1].end == END
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    sizes = [sum(1 for x in times if r.start <= x < r.end) for r in ranges]  # type: ignore[operator]
    assert sum(sizes) == 1050 and max(sizes) <= 100 + 2 * 10  # each boundary within 10% of its share


def test_a_small_day_runs_in_one_go(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=50)
    result = run_export_event(DAY, sharded)
    assert result is not None and result.rows("interactions") == 50
    assert isinstance(sharded.publisher, RecordingPublisher) and sharded.publisher.bodies == []


def test_duplicated_and_reordered_shards_give_one_manifest_and_every_row_once(sharded: ExportDeps) -> None:
    inside = _seed(sharded)
    assert run_export_event(DAY, sharded) is None  # fanned out
    publisher = sharded.publisher
    assert isinstance(publisher, RecordingPublisher) and len(publisher.bodies) == 11
    deliveries = publisher.bodies * 2
    random.Random(3).shuffle(deliveries)
    results = [_deliver(sharded, body) for body in deliveries]
    finals = [r for r in results if r is not None]
    assert len(finals) == 1  # exactly one shard finalised
    assert isinstance(sharded.metrics, RecordingMetrics) and sharded.metrics.total("ExportRows") > 0

    store = sharded.import_store
    assert isinstance(store, InMemoryObjectStore)
    manifests = [k for k in store.objects if k.startswith("manifests/")]
    assert manifests == ["manifests/dt=2026-11-28/manifest.json"]
    manifest = json.loads(store.objects[manifests[0]])
    keys = [f["key"] for f in manifest["datasets"]["interactions"]["files"]]
    assert sorted(k for k in store.objects if k.startswith("interactions/")) == sorted(keys)
    rows = [row for key in keys for row in read_csv(store.objects[key])[1:]]
    assert sorted(rows) == sorted(expected_interactions(inside))  # every row exactly once
    assert manifest["datasets"]["items"]["rows"] == 7 and manifest["datasets"]["users"]["rows"] == 5
    assert sharded.backup_store.get_bytes(manifests[0]) == store.objects[manifests[0]]
    assert (sharded.docs.get("ml_state/export") or {})["watermark"] == END


def test_the_sharded_manifest_equals_a_single_run_export_row_for_row(sharded: ExportDeps, deps: ExportDeps) -> None:
    inside = _seed(sharded, clicks=300)
    run_export_event(DAY, sharded)
    assert isinstance(sharded.publisher, RecordingPublisher)
    for body in reversed(sharded.publisher.bodies):
        _deliver(sharded, body)
    store = sharded.import_store
    assert isinstance(store, InMemoryObjectStore)
    manifest = json.loads(store.objects["manifests/dt=2026-11-28/manifest.json"])
    assert manifest["datasets"]["interactions"]["rows"] == len(inside)
    keys = [f["key"] for f in manifest["datasets"]["interactions"]["files"]]
    rows = [row for key in keys for row in read_csv(store.objects[key])[1:]]
    assert rows == expected_interactions(inside)  # shards in index order = capture order


def test_a_shrunken_snapshot_shard_is_refused_before_upload(sharded: ExportDeps) -> None:
    _seed(sharded)
    seed(sharded.docs, "ml_state", [("export", {"rows": {"items": 70, "users": 5}})])
    run_export_event(DAY, sharded)
    assert isinstance(sharded.publisher, RecordingPublisher)
    snapshots = sharded.publisher.bodies[-1]
    assert Shard.parse(snapshots["shard"]).snapshots
    with pytest.raises(ExportRefused, match="FULL items snapshot"):
        _deliver(sharded, snapshots)
    store = sharded.import_store
    assert isinstance(store, InMemoryObjectStore)
    assert not any(k.startswith(("items/", "manifests/")) for k in store.objects)
    forced = dict(snapshots, force=True)
    assert _deliver(sharded, forced) is None  # uploaded, waits for the interaction shards


def test_the_cli_path_never_fans_out(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=300)
    assert run_export(DAY, sharded).rows("interactions") == 300


def test_a_sharded_rerun_of_a_published_day_needs_replace(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=300)
    run_export(DAY, sharded)  # published in one go
    with pytest.raises(ExportRefused, match="needs replace"):
        run_export_event(DAY, sharded)
    seed(sharded.docs, "ml_items", [item("late-story")])
    assert run_export_event(DAY, sharded, overrides=Overrides(replace=True)) is None
    publisher = sharded.publisher
    assert isinstance(publisher, RecordingPublisher)
    finals = [r for r in (_deliver(sharded, body) for body in publisher.bodies) if r is not None]
    assert len(finals) == 1 and finals[0].rows("items") == 8


def test_a_redelivered_tick_after_the_shards_finished_does_nothing(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=300)
    run_export_event(DAY, sharded)
    publisher = sharded.publisher
    assert isinstance(publisher, RecordingPublisher)
    for body in list(publisher.bodies):
        _deliver(sharded, body)
    published = len(publisher.bodies)
    assert isinstance(sharded.notifier, RecordingNotifier)
    assert run_export_event(DAY, sharded) is None  # the daily tick again, after success
    assert len(publisher.bodies) == published and sharded.notifier.sent == []
    assert [_deliver(sharded, body) for body in publisher.bodies] == [None] * published  # late shard copies


def test_a_stale_shard_from_before_a_replace_rerun_is_ignored(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=300)
    run_export_event(DAY, sharded)
    publisher = sharded.publisher
    assert isinstance(publisher, RecordingPublisher)
    old = list(publisher.bodies)
    for body in old:
        _deliver(sharded, body)
    seed(sharded.docs, "ml_interactions", day_of_clicks(300, first=5_000))  # the day is replayed: 600 rows
    sharded.docs.delete("ml_state/export/dates/2026-11-28")  # an operator clears the recorded window
    sharded.docs.set("ml_state/export", {"watermark": DAY_START}, merge=True)
    publisher.bodies.clear()
    run_export_event(DAY, sharded, overrides=Overrides(replace=True, force=True))
    new = list(publisher.bodies)
    assert new != old
    stale = [b for b in old if b not in new and not Shard.parse(b["shard"]).snapshots]
    assert stale and all(_deliver(sharded, b) is None for b in stale)
    finals = [r for r in (_deliver(sharded, b) for b in new) if r is not None]
    assert len(finals) == 1 and finals[0].rows("interactions") == 600


def test_a_hand_made_shard_message_is_ignored(sharded: ExportDeps) -> None:
    _seed(sharded, clicks=300)
    body = Shard(0, 2, DAY_START, END).message(DAY, Overrides())
    assert _deliver(sharded, body) is None
    store = sharded.import_store
    assert isinstance(store, InMemoryObjectStore) and store.objects == {}
