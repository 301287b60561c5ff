"""Issue 19, import side, through the real import and monitor handlers on moto and the local engine:
manifests validated before any job, held days kept whatever arrives at once and reported when lost,
one bad item never stops the rest, one ImportJobsStarted datum per job."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.personalize.held import HeldDays
from shared.personalize.imports import import_manifest
from shared.personalize.stage import ensure_datasets
from tests.integration.aws.conftest import DAY, Stage

pytestmark = pytest.mark.integration
MINIMUM = 1000


@pytest.fixture(autouse=True)
def _minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers hold interaction deltas below 1,000 new rows (read from the environment per invocation)."""
    monkeypatch.setenv("STORYREC_MIN_INCREMENTAL_ROWS", str(MINIMUM))


def _at_once(calls: list[Callable[[], Any]]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _jobs(stage: Stage) -> list[Any]:
    datasets = ensure_datasets(stage.deps)
    return [j for arn in datasets.by_type.values() for j in stage.deps.personalize.list_import_jobs(arn)]


def _held(stage: Stage) -> list[str]:
    return [d.manifest_key for d in HeldDays(stage.deps.bucket, stage.settings.aws_stage.state_prefix).days()[0]]


def _combined_days(stage: Stage) -> list[int]:
    """The capture day of every row in the combined held CSVs (the export's timestamps, as day ordinals)."""
    prefix = stage.settings.aws_stage.state_prefix + "held/"
    days = []
    for o in stage.deps.bucket.list(prefix):
        for line in stage.deps.bucket.get_bytes(o.key).decode().splitlines()[1:]:
            days.append(datetime.fromtimestamp(int(line.split(",")[2]), UTC).date().toordinal())
    return days


def _subjects(stage: Stage) -> list[str]:
    return [m["Subject"] for m in stage.probe.drain()]


def test_small_days_delivered_at_once_are_all_kept_and_each_imported_once(stage: Stage, handlers: Any) -> None:
    days = [DAY - timedelta(days=n) for n in range(5)]
    keys = [stage.put_export(day, users=10, per_user=30) for day in days]  # 300 new interactions a day
    _at_once([lambda k=k: handlers.imports(k) for k in keys])
    handlers.monitor()  # a day a racing pass did not see is combined by the next pass
    combined = _combined_days(stage)
    held = _held(stage)
    for day, key in zip(days, keys, strict=True):
        count = combined.count(day.toordinal())
        assert (count == 300) != (key in held), (day, count, held)  # imported exactly once, or still held
    assert len(held) * 300 < MINIMUM and len(combined) == 300 * (len(days) - len(held))
    names = [j.name for j in _jobs(stage) if j.name.endswith("-900")]
    assert len(names) == len(combined) // 1200


def test_a_held_day_whose_csv_expired_alerts_once_and_every_later_import_goes_on(
    stage: Stage, handlers: Any
) -> None:
    gone = stage.put_export(DAY - timedelta(days=2), users=20, per_user=30)  # 600 rows: held
    assert "held" in handlers.imports(gone)["manifests"][0]["skipped"]["interactions"]
    part = gone.replace("manifests", "interactions").replace("manifest.json", "part-00000.csv")
    stage.s3.delete_object(Bucket=stage.settings.import_bucket, Key=part)  # the 90-day expiry
    small = stage.put_export(DAY - timedelta(days=1), users=20, per_user=30)  # 600 + 600 >= 1,000: combined
    handlers.imports(small)
    handlers.imports(small)  # and S3 delivers it again
    large = stage.put_export(DAY, users=60, per_user=30)
    [result] = handlers.imports(large)["manifests"]
    assert len(result["started"]) == 3 and result["parked"] is None
    for _ in range(2):
        handlers.monitor()
    lost = [s for s in _subjects(stage) if "lost" in s]
    assert lost == [f"storyrec held interactions lost: {DAY - timedelta(days=2)}"]
    assert _held(stage) == [small]


def test_a_re_exported_day_lost_again_alerts_again(stage: Stage, handlers: Any) -> None:
    """Issue 24: a held day lost, re-exported by the operator (same key, same bytes) and lost again alerts again."""
    gone_day = DAY - timedelta(days=4)
    gone = stage.put_export(gone_day, users=20, per_user=30)  # 600 rows: held
    part = gone.replace("manifests", "interactions").replace("manifest.json", "part-00000.csv")
    _at_once([lambda: handlers.imports(gone)] * 2)  # S3 delivers the event twice at once
    stage.s3.delete_object(Bucket=stage.settings.import_bucket, Key=part)  # the 90-day expiry
    small = stage.put_export(DAY - timedelta(days=3), users=15, per_user=30)  # 600 + 450 >= 1,000: the group forms
    _at_once([lambda: handlers.imports(small)] * 2)
    handlers.imports(stage.put_export(DAY - timedelta(days=2), users=20, per_user=30))  # 450 + 600: imported
    assert _held(stage) == []
    lost = f"storyrec held interactions lost: {gone_day}"
    assert [s for s in _subjects(stage) if "lost" in s] == [lost]

    assert stage.put_export(gone_day, users=20, per_user=30) == gone  # the operator re-runs the export
    _at_once([lambda: handlers.imports(gone)] * 2)
    handlers.imports(gone)
    assert _held(stage) == [gone]
    stage.s3.delete_object(Bucket=stage.settings.import_bucket, Key=part)  # and it expires again
    later = stage.put_export(DAY - timedelta(days=1), users=15, per_user=30)
    _at_once([lambda: handlers.imports(later)] * 2)
    _at_once([handlers.monitor] * 2)  # overlapping monitor passes
    assert [s for s in _subjects(stage) if "lost" in s] == [lost]  # the second loss, once
    assert _held(stage) == [later]


def test_a_held_day_s_event_redelivered_after_its_parts_expired_is_one_lost_alert_then_re_exported_once(
    stage: Stage, handlers: Any
) -> None:
    """Issue 24's 42-day simulation: a held day's parts expired, then its S3 event came again (reordered). The
    import refused the manifest ("import refused") and the day was reported lost again when its group formed:
    two alerts. Now one alert names the day and the command; the re-export is imported once."""
    gone_day = DAY - timedelta(days=3)
    gone = stage.put_export(gone_day, users=20, per_user=30)  # 600 rows: held
    handlers.imports(gone)
    assert _held(stage) == [gone]
    part = gone.replace("manifests", "interactions").replace("manifest.json", "part-00000.csv")
    stage.s3.delete_object(Bucket=stage.settings.import_bucket, Key=part)  # the 90-day expiry
    _at_once([lambda: handlers.imports(gone)] * 2)  # its event delivered again, twice at once
    handlers.imports(gone)
    [message] = stage.probe.drain()
    assert message["Subject"] == f"storyrec held interactions lost: {gone_day}"
    assert f"storyrec export --date {gone_day} --replace" in message["Message"]
    assert _held(stage) == []
    small = stage.put_export(DAY - timedelta(days=2), users=15, per_user=30)  # 450 rows: held, nothing reported
    handlers.imports(small)
    _at_once([handlers.monitor] * 2)
    assert _subjects(stage) == [] and _held(stage) == [small]
    assert stage.put_export(gone_day, users=20, per_user=30) == gone  # what the alert says: re-export the date
    _at_once([lambda: handlers.imports(gone)] * 2)
    handlers.monitor()
    assert _held(stage) == [] and _subjects(stage) == []
    combined = _combined_days(stage)
    assert combined.count(gone_day.toordinal()) == 600 and len(combined) == 1050  # each row once
    assert len([j for j in _jobs(stage) if j.name.endswith("-900")]) == 1


BAD = {
    "interactions imported as FULL": {"interactions": {"import_mode": "FULL"}},
    "a date a year off its key": {"date": "2025-11-28"},
    "10^30 rows": {"interactions": {"rows": 10**30}},
    "a part that does not exist": {"interactions": {"files": "missing"}},
    "a part whose sha256 differs": {"interactions": {"files": "sha256"}},
}


def _rewrite(stage: Stage, key: str, change: dict[str, Any]) -> None:
    body = json.loads(stage.s3.get_object(Bucket=stage.settings.import_bucket, Key=key)["Body"].read())
    for field, value in change.items():
        if not isinstance(value, dict):
            body[field] = value
            continue
        spec = body["datasets"][field]
        for name, new in value.items():
            if new == "missing":
                spec["files"][0]["key"] = spec["files"][0]["key"].replace("part-00000", "part-00007")
            elif new == "sha256":
                spec["files"][0]["sha256"] = "f" * 64
            else:
                spec[name] = new
    stage.s3.put_object(Bucket=stage.settings.import_bucket, Key=key, Body=json.dumps(body).encode())


@pytest.mark.parametrize("change", BAD.values(), ids=list(BAD))
def test_a_manifest_that_lies_is_refused_once_and_starts_nothing(
    stage: Stage, handlers: Any, change: dict[str, Any]
) -> None:
    key = stage.put_export()
    _rewrite(stage, key, change)
    [result] = handlers.imports(key)["manifests"]
    handlers.imports(key)
    handlers.monitor()
    assert result["started"] == [] and "*" in result["skipped"] and _jobs(stage) == []
    assert [s for s in _subjects(stage) if "refused" in s] == [f"storyrec import refused: {key}"]


def test_a_key_dated_february_30_is_refused_with_one_alert(stage: Stage, handlers: Any) -> None:
    key = stage.put_export()
    bad = key.replace(DAY.isoformat(), "2026-02-30")
    bucket = stage.settings.import_bucket
    stage.s3.copy_object(Bucket=bucket, Key=bad, CopySource=f"{bucket}/{key}")
    [result] = handlers.imports(bad)["manifests"]
    assert result["started"] == [] and "calendar date" in result["skipped"]["*"]
    assert [s for s in _subjects(stage) if "refused" in s] == [f"storyrec import refused: {bad}"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_one_handler_call_emits_one_datum_per_job_started(
    stage: Stage, handlers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    key = stage.put_export()
    capsys.readouterr()
    handlers.imports(key)
    handlers.imports(key)
    points = []
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line and "ImportJobsStarted" in line:
            value = json.loads(line)["ImportJobsStarted"]
            points += value if isinstance(value, list) else [value]
    assert points == [1.0, 1.0, 1.0]


def test_duplicate_deliveries_at_once_start_and_count_each_job_once(stage: Stage) -> None:
    metrics = RecordingMetrics()
    deps = replace(stage.deps, metrics=metrics)
    key = stage.put_export()
    _at_once([lambda: import_manifest(key, deps) for _ in range(4)])
    assert len(_jobs(stage)) == 3
    assert [p[:2] for p in metrics.points if p[0] == "ImportJobsStarted"] == [("ImportJobsStarted", 1.0)] * 3

