"""Issue 19, import side, on in-memory ports: manifests validated before any job, held days kept one object
each and reported when lost, one failing item never stops the pass, one metric datum per job started."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.personalize.held import HeldDay, HeldDays
from shared.personalize.imports import import_manifest
from shared.personalize.monitor import monitor
from shared.personalize.stage import StageDeps
from tests.unit.aws.fakes import FakePersonalize

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
HEADER = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n"


def _deps(minimum: int = 1) -> tuple[StageDeps, FakePersonalize, RecordingNotifier, RecordingMetrics]:
    port, notifier, metrics = FakePersonalize(NOW), RecordingNotifier(), RecordingMetrics()
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_MIN_INCREMENTAL_ROWS": str(minimum)})
    return StageDeps(port, InMemoryObjectStore("b"), notifier, metrics, lambda: NOW, settings), port, notifier, metrics


def _body(day: str, rows: int) -> bytes:
    return HEADER + b"".join(f"u{i},s{i},1,read,,{day}\n".encode() for i in range(rows))


def _spec(key: str, body: bytes, rows: int, mode: str) -> dict[str, Any]:
    return {
        "import_mode": mode,
        "schema_version": "1.0",
        "rows": rows,
        "files": [{"key": key, "rows": rows, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}],
    }


def _export(deps: StageDeps, day: str, rows: int = 5, snapshots: bool = True, **changes: Any) -> str:
    """Write a day's export as the export does; ``changes`` overwrite top-level fields or, dotted, a dataset's."""
    datasets = {}
    for name, mode, n in (("interactions", "INCREMENTAL", rows), ("items", "FULL", 3), ("users", "FULL", 2)):
        if name != "interactions" and not snapshots:
            continue
        key, body = f"{name}/dt={day}/part-00000.csv", _body(day, n)
        deps.bucket.put_bytes(key, body)
        datasets[name] = _spec(key, body, n, mode)
    body: dict[str, Any] = {"format_version": "1", "run_id": f"export-{day}", "date": day, "datasets": datasets}
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for p in parents:
            target = target[p] if p in target else target["datasets"][p]
        target[leaf] = value
    key = f"manifests/dt={day}/manifest.json"
    deps.bucket.put_bytes(key, json.dumps(body).encode())
    return key


def _jobs(port: FakePersonalize) -> list[Any]:
    return [j for js in port.jobs.values() for j in js]


def _held(deps: StageDeps) -> list[str]:
    return [d.manifest_key for d in HeldDays(deps.bucket, deps.settings.aws_stage.state_prefix).days()[0]]


# --- manifest validation -------------------------------------------------------------------------------


def _interactions_file(deps: StageDeps, day: str) -> dict[str, Any]:
    key = f"interactions/dt={day}/part-00000.csv"
    return {"key": key, "rows": 5, "bytes": len(_body(day, 5)), "sha256": hashlib.sha256(_body(day, 5)).hexdigest()}


BAD: dict[str, dict[str, Any]] = {
    "interactions as FULL": {"interactions__import_mode": "FULL"},
    "items as INCREMENTAL": {"items__import_mode": "INCREMENTAL"},
    "date a year off its key": {"date": "2025-11-28"},
    "negative rows": {"interactions__rows": -5},
    "10^30 rows": {"interactions__rows": 10**30},
    "rows that do not add up": {"interactions__rows": 6},
    "unknown schema version": {"interactions__schema_version": "9.9"},
    "no schema version": {"interactions__schema_version": ""},
    "unknown format": {"format_version": "2"},
    "a boolean count": {"interactions__rows": True},
    "a float count": {"interactions__rows": 5.0},
    "no storyrec dataset": {"datasets": {}},
    "an empty window": {"window": {"start": "2026-11-28T00:00:00+00:00", "end": "2026-11-28T00:00:00+00:00"}},
    "naive and aware window": {"window": {"start": "2026-11-28T00:00:00", "end": "2026-11-29T00:00:00+00:00"}},
}


@pytest.mark.parametrize("change", BAD.values(), ids=list(BAD))
def test_a_manifest_that_lies_is_refused_once_and_starts_nothing(change: dict[str, Any]) -> None:
    deps, port, notifier, metrics = _deps()
    key = _export(deps, "2026-11-28", **change)
    first, again = import_manifest(key, deps), import_manifest(key, deps)
    assert first.started == again.started == [] and "*" in first.skipped
    assert _jobs(port) == [] and len(notifier.sent) == 1 and metrics.total("ImportRefused") == 1
    assert deps.state.is_handled(key) and not deps.state.parked_imports()


def _file_change(deps: StageDeps, what: str) -> str:
    day = "2026-11-28"
    f = _interactions_file(deps, day)
    if what == "missing":
        f["key"] = f"interactions/dt={day}/part-00009.csv"
    elif what == "size":
        f["bytes"] += 1
    elif what == "sha256":
        f["sha256"] = "0" * 64
    elif what == "no sha256":
        f["sha256"] = ""
    elif what == "other date's folder":
        f["key"] = "interactions/dt=2026-11-27/part-00000.csv"
        deps.bucket.put_bytes(f["key"], _body(day, 5))
    elif what == "more rows than bytes":
        f["rows"] = f["bytes"]
    key = _export(deps, day, interactions__files=[f], interactions__rows=f["rows"])
    return key


@pytest.mark.parametrize(
    "what", ["missing", "size", "sha256", "no sha256", "other date's folder", "more rows than bytes"]
)
def test_a_manifest_whose_files_are_not_as_recorded_is_refused_before_any_job(what: str) -> None:
    deps, port, notifier, _ = _deps()
    key = _file_change(deps, what)
    outcome = import_manifest(key, deps)
    import_manifest(key, deps)
    assert outcome.started == [] and _jobs(port) == [] and len(notifier.sent) == 1, outcome.skipped


def test_a_key_dated_february_30_is_refused_with_an_alert_not_ignored() -> None:
    from functions_aws import import_manifest as handler_module

    deps, port, notifier, _ = _deps()
    key = "manifests/dt=2026-02-30/manifest.json"
    deps.bucket.put_bytes(key, b"{}")
    from shared.manifest import is_manifest_shaped

    assert is_manifest_shaped(key) and handler_module.is_manifest_shaped is is_manifest_shaped
    outcome = import_manifest(key, deps)
    assert outcome.started == [] and _jobs(port) == [] and len(notifier.sent) == 1


# --- held days -----------------------------------------------------------------------------------------


def test_a_held_day_whose_csv_is_gone_is_reported_once_and_nothing_else_stops() -> None:
    deps, _port, notifier, metrics = _deps(minimum=8)
    first = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(first, deps)
    assert _held(deps) == [first]
    deps.bucket.delete("interactions/dt=2026-11-25/part-00000.csv")  # the bucket's 90-day expiry
    second = _export(deps, "2026-11-26", rows=5, snapshots=False)
    outcome = import_manifest(second, deps)  # 5 + 5 >= 8, but the first day is gone
    assert [s.split(":")[0] for s, _, _ in notifier.sent] == ["storyrec held interactions lost"]
    assert first in notifier.sent[0][1] and _held(deps) == [second] and outcome.parked is None
    assert metrics.total("ImportHeldDayLost") == 1
    large = import_manifest(_export(deps, "2026-11-27", rows=20), deps)  # a normal large day imports
    assert len(large.started) == 3 and large.parked is None and "*" not in large.skipped
    for _ in range(2):  # and every monitor pass goes on, with no second alert
        monitor(deps)
    third = import_manifest(_export(deps, "2026-11-28", rows=4, snapshots=False), deps)  # 5 + 4 >= 8
    [combined] = third.started
    assert combined.endswith("-900") and _held(deps) == [] and len(notifier.sent) == 1
    body = deps.bucket.get_bytes(next(o.key for o in deps.bucket.list("storyrec-state/held/"))).decode()
    assert body.count("USER_ID") == 1 and body.count(",2026-11-26\n") == 5 and body.count(",2026-11-28\n") == 4


def test_a_held_day_whose_csv_changed_is_reported_and_not_imported() -> None:
    deps, port, notifier, _ = _deps(minimum=8)
    first = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(first, deps)
    deps.bucket.put_bytes("interactions/dt=2026-11-25/part-00000.csv", _body("2026-11-25", 6))
    import_manifest(_export(deps, "2026-11-26", rows=5, snapshots=False), deps)
    assert len(notifier.sent) == 1 and "changed" in notifier.sent[0][1] and _jobs(port) == []


def test_two_small_days_delivered_at_once_are_both_kept_then_imported_together() -> None:
    deps, port, _, metrics = _deps(minimum=1000)
    keys = [_export(deps, f"2026-11-{d:02d}", rows=300, snapshots=False) for d in range(20, 28)]
    barrier = threading.Barrier(len(keys))

    def deliver(key: str) -> None:
        barrier.wait()
        import_manifest(key, deps)

    threads = [threading.Thread(target=deliver, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert metrics.total("ImportDeltaHeld") == len(keys)
    monitor(deps)  # a day a racing pass did not see is combined on the next pass
    combined = [deps.bucket.get_bytes(o.key) for o in deps.bucket.list("storyrec-state/held/")]
    days = sorted(line.rsplit(b",", 1)[1].decode() for body in combined for line in body.splitlines()[1:])
    held = sorted(k.split("dt=")[1][:10] for k in _held(deps))
    assert sorted(set(days)) + held == sorted(k.split("dt=")[1][:10] for k in keys)  # each day once: imported or held
    assert len(days) == 300 * len(set(days)) and len(held) * 300 < 1000  # no day imported twice
    assert len(_jobs(port)) == len(combined) == len(set(days)) // 4


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(1, 9), st.booleans(), st.booleans()), min_size=1, max_size=8),
)
def test_no_held_day_is_dropped_without_an_alert(days: list[tuple[int, bool, bool]]) -> None:
    """Whatever the sizes, whichever parts expire and whichever events are delivered again after the expiry:
    every held day is imported once, still held, or alerted once as lost (never refused as well)."""
    deps, _port, notifier, _ = _deps(minimum=10)
    keys = []
    for n, (rows, expires, redelivered) in enumerate(days):
        day = f"2026-11-{n + 1:02d}"
        key = _export(deps, day, rows=rows, snapshots=False)
        keys.append(key)
        import_manifest(key, deps)
        if expires:
            deps.bucket.delete(f"interactions/dt={day}/part-00000.csv")
        if redelivered:
            import_manifest(key, deps)
        monitor(deps)
    subjects = [s for s, _, _ in notifier.sent]
    assert not [s for s in subjects if "refused" in s] and len(subjects) == len(set(subjects))
    combined = [o.key for o in deps.bucket.list("storyrec-state/held/")]
    imported_days = [line.rsplit(b",", 1)[1] for k in combined for line in deps.bucket.get_bytes(k).splitlines()[1:]]
    alerted = " ".join(m for _, m, _ in notifier.sent)
    for (rows, _, _), key in zip(days, keys, strict=True):
        day = key.split("dt=")[1][:10].encode()
        count = imported_days.count(day)
        assert count in (0, rows)
        assert count == rows or key in _held(deps) or key in alerted, key
        assert not (count and key in alerted), key  # an alerted day was not imported either


def test_a_lost_day_re_exported_is_held_again() -> None:
    deps, _, notifier, _ = _deps(minimum=8)
    first = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(first, deps)
    deps.bucket.delete("interactions/dt=2026-11-25/part-00000.csv")
    import_manifest(_export(deps, "2026-11-26", rows=5, snapshots=False), deps)
    assert len(notifier.sent) == 1
    import_manifest(_export(deps, "2026-11-25", rows=5, snapshots=False), deps)  # the operator re-runs the export
    assert _held(deps) == [] and len(notifier.sent) == 1  # re-held, then combined with the 26th


def _deliver_at_once(deps: StageDeps, key: str, times: int = 2) -> None:
    """``times`` deliveries of one manifest's S3 event at the same moment."""
    barrier = threading.Barrier(times)

    def deliver() -> None:
        barrier.wait()
        import_manifest(key, deps)

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_re_exported_day_lost_again_is_reported_again() -> None:
    """Issue 24's simulation: a day lost, re-exported (same bytes), then lost again had its second loss dropped
    without an alert (the alert was claimed once per manifest key). Each hold is its own: each loss alerts once."""
    deps, _, notifier, metrics = _deps(minimum=8)
    lost = "interactions/dt=2026-11-25/part-00000.csv"

    def alerted() -> list[str]:
        return [s for s, _, _ in notifier.sent]

    def deliver(day: str, rows: int) -> str:
        key = _export(deps, day, rows=rows, snapshots=False)
        import_manifest(key, deps)
        _deliver_at_once(deps, key)  # the S3 event delivered again, twice at once
        import_manifest(key, deps)
        return key

    first = deliver("2026-11-25", 5)
    assert _held(deps) == [first] and metrics.total("ImportDeltaHeld") == 1
    deps.bucket.delete(lost)  # the bucket's expiry
    deliver("2026-11-26", 4)  # 5 + 4 >= 8: the group forms, the 25th is gone
    assert alerted() == ["storyrec held interactions lost: 2026-11-25"]
    for _ in range(2):
        monitor(deps)
    third = deliver("2026-11-27", 4)  # the 26th and 27th are imported together
    assert _held(deps) == [] and len(alerted()) == 1 and third

    again = deliver("2026-11-25", 5)  # the operator re-runs the export: the same manifest, the same bytes
    assert again == first and _held(deps) == [first] and metrics.total("ImportDeltaHeld") == 4
    assert len(alerted()) == 1
    deps.bucket.delete(lost)  # and it expires again
    deliver("2026-11-28", 4)  # 5 + 4 >= 8: the group forms again without the 25th
    assert alerted() == ["storyrec held interactions lost: 2026-11-25"] * 2
    assert metrics.total("ImportHeldDayLost") == 2
    for _ in range(2):
        monitor(deps)
    assert len(alerted()) == 2 and first not in _held(deps)


def test_a_redelivered_event_of_a_held_day_whose_parts_expired_is_one_lost_day_alert() -> None:
    """Issue 24's 42-day simulation: a day's event was dropped, the monitor's catch-up held it, its parts
    expired, then S3 delivered its event again. The import refused the manifest ("import refused": a second,
    different alert for the same loss, without the day or the fix). The redelivery is that held day's loss:
    one alert naming the date and the command; the re-export is held again and imported once."""
    deps, port, notifier, metrics = _deps(minimum=8)
    first = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(first, deps)  # the monitor's catch-up (import_missed) holds it
    assert _held(deps) == [first]
    deps.bucket.delete("interactions/dt=2026-11-25/part-00000.csv")  # the bucket's expiry
    import_manifest(first, deps)  # the event, redelivered (reordered)
    _deliver_at_once(deps, first)  # and twice more at once
    for _ in range(2):
        monitor(deps)
    assert [s for s, _, _ in notifier.sent] == ["storyrec held interactions lost: 2026-11-25"]
    assert "storyrec export --date 2026-11-25 --replace" in notifier.sent[0][1]
    assert metrics.total("ImportRefused") == 0 and metrics.total("ImportHeldDayLost") == 1
    assert _held(deps) == [] and deps.state.is_handled(first) and not deps.state.parked_imports()
    second = _export(deps, "2026-11-26", rows=5, snapshots=False)
    import_manifest(second, deps)  # 5 < 8: held; the lost day is not reported again
    assert _held(deps) == [second] and len(notifier.sent) == 1
    again = _export(deps, "2026-11-25", rows=5, snapshots=False)  # what the alert says
    import_manifest(again, deps)
    import_manifest(again, deps)
    monitor(deps)
    assert _held(deps) == [] and len(notifier.sent) == 1
    [job] = _jobs(port)
    body = deps.bucket.get_bytes(next(o.key for o in deps.bucket.list("storyrec-state/held/")))
    assert body.count(b",2026-11-25\n") == 5 and body.count(b",2026-11-26\n") == 5 and job.name.endswith("-900")


def test_a_lost_day_s_event_delivered_after_its_report_adds_no_alert() -> None:
    """The group reported the expired day lost first; its old event delivered afterwards is the same loss."""
    deps, _, notifier, metrics = _deps(minimum=8)
    first = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(first, deps)
    deps.bucket.delete("interactions/dt=2026-11-25/part-00000.csv")
    import_manifest(_export(deps, "2026-11-26", rows=5, snapshots=False), deps)  # the group forms: reported
    _deliver_at_once(deps, first)
    import_manifest(first, deps)
    assert [s for s, _, _ in notifier.sent] == ["storyrec held interactions lost: 2026-11-25"]
    assert metrics.total("ImportRefused") == 0


def test_a_manifest_refused_for_what_its_held_day_does_not_explain_is_still_refused() -> None:
    """Only the held day's own parts gone or changed make a redelivery that day's loss; a held manifest whose
    parts are intact but rewritten to lie (another size) is refused as before."""
    deps, _, notifier, metrics = _deps(minimum=8)
    key = _export(deps, "2026-11-25", rows=5, snapshots=False)
    import_manifest(key, deps)
    body = json.loads(deps.bucket.get_bytes(key))
    body["datasets"]["interactions"]["files"][0]["bytes"] += 1
    deps.bucket.put_bytes(key, json.dumps(body).encode())
    import_manifest(key, deps)
    assert [s.split(":")[0] for s, _, _ in notifier.sent] == ["storyrec import refused"]
    assert metrics.total("ImportHeldDayLost") == 0 and _held(deps) == [key]


def test_a_lost_hold_left_behind_by_a_crash_is_not_taken_for_the_re_export() -> None:
    """A pass that died between the lost marker and removing the held object leaves the lost hold's object:
    the re-export is still a new hold, so its own loss is a new alert."""
    deps, *_ = _deps(minimum=8)
    key = _export(deps, "2026-11-25", rows=5, snapshots=False)
    held = HeldDays(deps.bucket, deps.settings.aws_stage.state_prefix)
    day = HeldDay(key, date(2026, 11, 25), 5, ())
    assert held.hold(day) and not held.hold(day)  # a redelivery keeps the hold (and its identity)
    [first] = held.days()[0]
    store = deps.bucket
    delete = store.delete
    store.delete = lambda key: None  # type: ignore[method-assign]  # the pass dies after the marker
    held.done([first], "lost: part gone")
    store.delete = delete  # type: ignore[method-assign]
    assert held.days()[0] == []
    assert held.hold(day) and not held.hold(day)  # the operator's re-export, delivered twice
    [second] = held.days()[0]
    assert second.hold_id not in ("", first.hold_id) and second.manifest_key == key


# --- isolation ---------------------------------------------------------------------------------------


class _Broken(FakePersonalize):
    """Fails every import of one dataset's jobs with an error nobody planned for."""

    def start_import(self, request: Any) -> str:
        if "2026-11-27" in request.data_location:
            raise RuntimeError("boom")
        return super().start_import(request)


def test_one_manifest_failing_unexpectedly_alerts_once_and_the_others_go_on() -> None:
    deps, _, notifier, metrics = _deps()
    port = _Broken(NOW)
    deps = StageDeps(port, deps.bucket, notifier, metrics, deps.clock, deps.settings)
    bad, good = _export(deps, "2026-11-27"), _export(deps, "2026-11-28")
    outcome = import_manifest(bad, deps)
    assert outcome.parked and deps.state.parked_imports() == [bad]
    assert len(import_manifest(good, deps).started) == 3
    for _ in range(3):  # every monitor pass re-drives it, raises nothing, alerts no more
        monitor(deps)
    assert len(notifier.sent) == 1 and metrics.total("ImportManifestFailed") == 1


# --- exact metrics -----------------------------------------------------------------------------------


def _emf_points(out: str, name: str) -> list[float]:
    points: list[float] = []
    for line in out.splitlines():
        if '"_aws"' in line:
            value = json.loads(line).get(name)
            points += value if isinstance(value, list) else [] if value is None else [value]
    return points


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_one_handler_call_emits_one_import_jobs_started_datum_per_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aws_lambda_powertools import Metrics

    from functions_aws import import_manifest as handler_module
    from functions_aws.runtime import PowertoolsMetricsSink
    from infra.local.lambda_events import LambdaContext, s3_object_created

    deps, port, _, _ = _deps()

    def wiring(metrics: Metrics) -> tuple[Settings, StageDeps]:
        metrics.namespace = "storyrec"
        sink = PowertoolsMetricsSink(metrics)
        return deps.settings, StageDeps(port, deps.bucket, deps.notifier, sink, deps.clock, deps.settings)

    monkeypatch.setattr(handler_module, "deps_for_invocation", wiring)
    key = _export(deps, "2026-11-28")
    event = s3_object_created(deps.settings.import_bucket, key)
    capsys.readouterr()
    handler_module.handler(event, LambdaContext("storyrec-import"))
    assert _emf_points(capsys.readouterr().out, "ImportJobsStarted") == [1.0, 1.0, 1.0]
    handler_module.handler(event, LambdaContext("storyrec-import"))  # S3 delivers it again: no job, no datum
    assert _emf_points(capsys.readouterr().out, "ImportJobsStarted") == []


class _SlowLister(FakePersonalize):
    """Answers ListDatasetImportJobs slowly, as a real endpoint does: concurrent deliveries all see no job."""

    def list_import_jobs(self, dataset_arn: str) -> list[Any]:
        jobs = super().list_import_jobs(dataset_arn)
        time.sleep(0.05)
        return jobs


def test_duplicate_deliveries_at_once_count_each_job_once() -> None:
    """Four deliveries of one 3-job manifest at once reported ImportJobsStarted = 12 before the claims."""
    deps, _, _, metrics = _deps()
    port = _SlowLister(NOW)
    deps = replace(deps, personalize=port)
    key = _export(deps, "2026-11-28")
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        import_manifest(key, deps)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_jobs(port)) == 3 and metrics.total("ImportJobsStarted") == 3
    assert [p for p in metrics.points if p[0] == "ImportJobsStarted"] == [("ImportJobsStarted", 1.0, "Count", {})] * 3
