"""The public release: no raw uid survives, thin users go, timestamps coarsen, and too few users refuse.

The input is made by the real code path: generated clicks mapped by capture's pure functions into
ML records, exported day by day by ``run_export`` into an in-memory backup bucket.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.traffic import TrafficConfig, build_catalogue, click_documents, story_documents, user_documents
from shared.adapters.folder import FolderExport
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.capture.records import click_to_interaction, story_to_item, user_to_ml_user
from shared.cli import app
from shared.export import ExportDeps, run_export
from shared.publish import PublishOptions, PublishRefused, pseudonym, publish_dataset
from shared.schema import load_schema

pytestmark = pytest.mark.unit
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 3
KEY = b"k" * 16 + b"0123456789abcdef-secret"
LEGACY = {
    "min_item_readers": 0,
    "max_items_per_user": None,
    "max_singled_out": 1.0,
    "epsilon": None,
    "measure_utility": False,
    "anonymity_m": 0,
}
"""The transformations and measures of tests/unit/ops/test_release.py switched off: these tests check the rest."""
TRAFFIC = TrafficConfig(seed=21, users=1_500, stories=300, interactions=30_000, days=DAYS, start=START)


@dataclass(frozen=True)
class Exported:
    backup: InMemoryObjectStore
    uids: list[str]
    events_per_user: Counter[str]


@cache
def exported() -> Exported:
    """Three daily exports of generated traffic, in the backup bucket as the export writes them."""
    catalogue = build_catalogue(TRAFFIC)
    now = START + timedelta(days=DAYS + 1, hours=1)
    docs = InMemoryDocumentStore()
    for w in story_documents(TRAFFIC, catalogue):
        sid = w.path.split("/")[1]
        docs.set(f"ml_items/{sid}", {**story_to_item(sid, w.data, now=now), "updated_at": START})
    uids = []
    for w in user_documents(catalogue):
        uid = w.path.split("/")[1]
        uids.append(uid)
        docs.set(f"ml_users/{uid}", {**user_to_ml_user(uid, w.data), "updated_at": START})
    events: Counter[str] = Counter()
    for w in click_documents(TRAFFIC, catalogue):
        record = click_to_interaction(w.path.split("/")[1], w.data, now=now)
        events[record["USER_ID"]] += 1
        captured = w.data["createdAt"] + timedelta(seconds=1)
        docs.set(f"ml_interactions/{record['click_id']}", {**record, "captured_at": captured})
    backup = InMemoryObjectStore("backup")
    deps = ExportDeps(
        docs=docs,
        import_store=InMemoryObjectStore("import"),
        backup_store=backup,
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: now,
    )
    for day in range(DAYS + 1):  # the last sessions of the period spill past midnight
        run_export((START + timedelta(days=day)).date(), deps)
    return Exported(backup, uids, events)


def _options(**overrides: object) -> PublishOptions:
    values: dict[str, object] = {"key": KEY, "min_users": 100, "min_events_per_user": 5, "time_grain": "day", **LEGACY}
    values.update(overrides)
    return PublishOptions(**values)  # type: ignore[arg-type]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_no_raw_uid_survives_in_any_output_byte(tmp_path: Path) -> None:
    data = exported()
    result = publish_dataset(data.backup, tmp_path / "release", _options())
    outputs = [p.read_bytes() for p in sorted(result.out_dir.iterdir())]
    assert {p.name for p in result.out_dir.iterdir()} == {"interactions.csv", "items.csv", "release.json", "README.md"}
    assert result.interactions > 10_000 and result.users > 100
    raw = [uid.encode() for uid in data.uids]
    assert all(uid in b"".join(data.backup.objects.values()) for uid in raw if data.events_per_user[uid.decode()])
    for blob in outputs:
        assert not any(uid in blob for uid in raw)
        assert KEY not in blob and KEY.decode() not in blob.decode("utf-8")


def test_thin_users_go_ids_are_keyed_hashes_times_are_coarse_and_text_is_dropped(tmp_path: Path) -> None:
    data = exported()
    result = publish_dataset(data.backup, tmp_path / "day", _options(min_events_per_user=5))
    rows = _rows(result.out_dir / "interactions.csv")
    kept = {uid for uid, n in data.events_per_user.items() if n >= 5}
    assert result.users == len(kept) and result.users_removed == len(data.events_per_user) - len(kept)
    assert {r["USER_ID"] for r in rows} == {pseudonym(KEY, uid) for uid in kept}
    per_user = Counter(r["USER_ID"] for r in rows)
    assert min(per_user.values()) >= 5
    assert sum(data.events_per_user[u] for u in kept) == len(rows) == result.interactions
    assert all(int(r["TIMESTAMP"]) % 86_400 == 0 for r in rows)
    attribution = {"RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION"}  # never published
    assert list(rows[0]) == [c.name for c in load_schema("interactions").columns if c.name not in attribution]
    items = _rows(result.out_dir / "items.csv")
    assert "SUMMARY" not in items[0] and len(items) == TRAFFIC.stories
    hourly = publish_dataset(data.backup, tmp_path / "hour", _options(time_grain="hour"))
    hours = {int(r["TIMESTAMP"]) for r in _rows(hourly.out_dir / "interactions.csv")}
    assert all(t % 3_600 == 0 for t in hours) and any(t % 86_400 for t in hours)


def test_another_key_gives_other_pseudonyms(tmp_path: Path) -> None:
    data = exported()
    a = publish_dataset(data.backup, tmp_path / "a", _options())
    b = publish_dataset(data.backup, tmp_path / "b", _options(key=KEY[::-1]))
    users_a = {r["USER_ID"] for r in _rows(a.out_dir / "interactions.csv")}
    users_b = {r["USER_ID"] for r in _rows(b.out_dir / "interactions.csv")}
    assert len(users_a) == len(users_b) and not users_a & users_b


def test_refuses_below_the_user_count_and_writes_nothing(tmp_path: Path) -> None:
    data = exported()
    eligible = sum(1 for n in data.events_per_user.values() if n >= 5)
    with pytest.raises(PublishRefused, match=f"only {eligible} users"):
        publish_dataset(data.backup, tmp_path / "release", _options(min_users=eligible + 1))
    assert list(tmp_path.iterdir()) == []
    publish_dataset(data.backup, tmp_path / "release", _options(min_users=eligible))


def test_refuses_a_part_that_does_not_match_its_manifest(tmp_path: Path) -> None:
    data = exported()
    tampered = InMemoryObjectStore("tampered")
    tampered.objects = dict(data.backup.objects)
    key = next(k for k in tampered.objects if k.startswith("interactions/"))
    tampered.objects[key] = tampered.objects[key].replace(b"open", b"like", 1)
    with pytest.raises(PublishRefused, match="sha256"):
        publish_dataset(tampered, tmp_path / "release", _options())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PublishRefused, match="no export manifest"):
        publish_dataset(InMemoryObjectStore("empty"), tmp_path / "release", _options())


def test_cli_from_a_local_copy_of_the_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = exported()
    copy = tmp_path / "bucket"
    for key, blob in data.backup.objects.items():
        (copy / key).parent.mkdir(parents=True, exist_ok=True)
        (copy / key).write_bytes(blob)
    assert [o.key for o in FolderExport(copy).list()] == sorted(data.backup.objects)
    monkeypatch.setenv("STORYREC_GCP_PROJECT", "demo-test")
    runner = CliRunner()
    monkeypatch.delenv("STORYREC_PUBLISH_KEY", raising=False)
    assert runner.invoke(app, ["publish-dataset", str(tmp_path / "x"), "--from-dir", str(copy)]).exit_code == 2
    monkeypatch.setenv("STORYREC_PUBLISH_KEY", KEY.decode())
    refused = runner.invoke(app, ["publish-dataset", str(tmp_path / "x"), "--from-dir", str(copy)])
    assert refused.exit_code == 1, refused.output  # default: at least 1,000 users
    assert not (tmp_path / "x").exists()
    ok = runner.invoke(
        app,
        [
            "publish-dataset",
            str(tmp_path / "x"),
            "--from-dir",
            str(copy),
            "--min-users",
            "50",
            "--grain",
            "hour",
            "--max-singled-out",
            "1",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "x" / "interactions.csv").is_file()


def test_publish_settings_from_the_environment_keep_the_key_out_of_reprs() -> None:
    from shared.config import Settings
    from shared.errors import ConfigError

    base = {"STORYREC_GCP_PROJECT": "p"}
    settings = Settings.from_env({**base, "STORYREC_PUBLISH_KEY": KEY.decode(), "STORYREC_PUBLISH_TIME_GRAIN": "hour"})
    assert (settings.publish.key, settings.publish.time_grain, settings.publish.min_users) == (
        KEY.decode(),
        "hour",
        1000,
    )
    assert KEY.decode() not in repr(settings)
    for bad in (
        {"STORYREC_PUBLISH_KEY": "short"},
        {"STORYREC_PUBLISH_TIME_GRAIN": "minute"},
        {"STORYREC_PUBLISH_MIN_USERS": "0"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({**base, **bad})
