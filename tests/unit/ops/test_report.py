"""The report: self-contained HTML, a plot per filled section, "no data yet" panels, and the gathering."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore
from shared.config import Settings
from shared.limits import EVENT_TYPES
from shared.manifest import Manifest, ManifestDataset, ManifestFile, manifest_key, serialize_manifest
from shared.ports import Where, Write
from shared.report import gather_report_data, render_html
from shared.report.data import DailyCount
from shared.report.gather import day_bounds, export_runs, interactions_per_day, quarantined_per_day
from tests.unit.ops.report_samples import full_report_data, today_report_data

pytestmark = pytest.mark.unit
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)|url\(\s*["']?(?!#)|@import|<script\b[^>]*\bsrc|<link\b|<iframe""",
    re.I,
)
PLOTS = {
    "interactions-per-day", "quarantine-per-day", "quarantine-reasons", "export-rows", "imports-per-day",
    "solution-metrics", "feeds-per-day", "feeds", "lift-test-v5-vs-v4", "alerts-per-day",
}


def _plots(page: str) -> set[str]:
    return set(re.findall(r'<figure class="plot" data-plot="([^"]+)"><svg', page))


def test_every_section_has_its_plot_and_nothing_is_fetched() -> None:
    page = render_html(full_report_data())
    assert _plots(page) == PLOTS
    assert "data-empty" not in page
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert len(page.encode()) < 1_000_000
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "inline SVGs share element ids: one plot would clip with another's path"


def test_sections_without_a_source_say_no_data_yet() -> None:
    page = render_html(today_report_data())
    assert _plots(page) == {"interactions-per-day", "export-rows"}
    for section in ("solutions", "feeds", "experiments", "imports", "alerts"):
        block = re.search(rf'<section data-section="{section}">(.*?)</section>', page, re.S)
        assert block and 'data-empty="true">No data yet' in block.group(1), section
    quarantine = re.search(r'<section data-section="quarantine">(.*?)</section>', page, re.S)
    assert quarantine and 'data-empty="true">Nothing quarantined' in quarantine.group(1)  # a source, no rows


def test_text_from_the_data_is_escaped() -> None:
    data = full_report_data()
    hostile = "<script>alert(1)</script>"
    page = render_html(type(data)(**{**data.__dict__, "project": hostile, "notes": (hostile,)}))
    assert hostile not in page and "&lt;script&gt;" in page


def test_gather_counts_by_day_type_and_reason_and_reads_the_manifests() -> None:
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_TIME_ZONE": "America/Sao_Paulo"})
    zone = ZoneInfo("America/Sao_Paulo")
    docs = InMemoryDocumentStore()
    start, _ = day_bounds(date(2026, 11, 27), zone)
    writes = [
        Write(f"ml_interactions/c{i}", data={"EVENT_TYPE": t, "TIMESTAMP": start + offset})
        for i, (t, offset) in enumerate(
            [("open", 0), ("open", 86_399), ("read", 86_400), ("like", 2 * 86_400 + 5), ("open", -1)]
        )
    ]
    writes += [Write(f"ml_quarantine/q{i}", data={"reason": r}) for i, r in enumerate(["unknown_type"] * 3 + ["odd"])]
    docs.write_batch(writes)
    backup = InMemoryObjectStore()
    backup.put_bytes(
        manifest_key("", date(2026, 11, 27)),
        serialize_manifest(
            Manifest(
                "r1",
                date(2026, 11, 27),
                (
                    ManifestDataset(
                        "interactions", "INCREMENTAL", "1.0", (), (ManifestFile("i", 3, 30),), {"too_long": 2}
                    ),
                    ManifestDataset("items", "FULL", "1.0", (), (ManifestFile("s", 9, 90),)),
                ),
            )
        ),
    )
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    data = gather_report_data(settings, StoreCounter(docs), backup, now, days=3)
    counts = {(c.day.isoformat(), c.event_type): c.count for c in data.interactions_per_day or ()}
    assert counts == {("2026-11-27", "open"): 2, ("2026-11-28", "read"): 1, ("2026-11-29", "like"): 1}
    assert {(q.reason, q.count) for q in data.quarantine or ()} == {("unknown_type", 3), ("other", 1)}
    [run] = export_runs(backup)
    assert (run.day, run.rows, run.rejected) == (date(2026, 11, 27), {"interactions": 3, "items": 9}, {"too_long": 2})
    assert data.solution_versions is None and data.feeds is None
    assert _plots(render_html(data)) == {"interactions-per-day", "quarantine-reasons", "export-rows"}
    assert now - timedelta(days=3) < datetime.combine(
        min(c.day for c in data.interactions_per_day or ()), datetime.min.time(), UTC
    )


class _PairedCounter:
    """Answers only when two counts are in flight together (a sequential caller breaks the barrier), in an
    order unlike the request order, and with a count that names its query."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        self.barrier.wait()
        start = next(w.value for w in where if w.op == ">=")
        key = start if isinstance(start, int) else int(start.timestamp())
        time.sleep((key // 86_400 % 3) * 0.01)
        return key % 97 + (where[0].value == "read")


def test_the_per_day_counts_run_concurrently_and_keep_the_day_order() -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(10)]
    concurrent = interactions_per_day(_PairedCounter(), "ml_interactions", days, zone, concurrency=4)
    expected = tuple(
        DailyCount(day, t, day_bounds(day, zone)[0] % 97 + (t == "read"))
        for day in days
        for t in EVENT_TYPES
        if day_bounds(day, zone)[0] % 97 + (t == "read")
    )
    assert concurrent == expected
    quarantined = quarantined_per_day(_PairedCounter(), "ml_quarantine", days, zone, concurrency=2)
    assert [q.day for q in quarantined] == [d for d in days if day_bounds(d, zone)[0] % 97]
    with pytest.raises(threading.BrokenBarrierError):  # the barrier proves the test would see a sequential caller
        counter = _PairedCounter()
        counter.barrier = threading.Barrier(2, timeout=0.2)
        interactions_per_day(counter, "ml_interactions", days[:1], zone, concurrency=1)


REPORT_NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)


class _SlowCounter:
    """Fails every count with the SDK's deadline error, as a loaded emulator did for a 180-day report, and
    records the most counts it saw in flight at once."""

    def __init__(self, fail: bool) -> None:
        self.fail, self.lock, self.in_flight, self.most = fail, threading.Lock(), 0, 0

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        from google.api_core.exceptions import DeadlineExceeded

        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.005)
        with self.lock:
            self.in_flight -= 1
        if self.fail:
            raise DeadlineExceeded("Deadline Exceeded")
        return 1


def test_counts_that_time_out_leave_their_sections_empty_with_a_note_not_a_traceback() -> None:
    dead = _SlowCounter(fail=True)
    data = gather_report_data(Settings(gcp_project="p"), dead, InMemoryObjectStore(), REPORT_NOW, days=3)
    assert data.interactions_per_day == () and data.quarantine_per_day == () and data.quarantine == ()
    assert any(n.startswith("interactions unreadable: DeadlineExceeded") for n in data.notes)
    assert any(n.startswith("quarantine unreadable: DeadlineExceeded") for n in data.notes)
    render_html(data)


def test_on_the_emulator_the_counts_run_one_at_a_time() -> None:
    """The emulator answers each count by scanning the collection: eight at once outlasted the count timeout."""
    emulator = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "FIRESTORE_EMULATOR_HOST": "localhost:8080"})
    alone, together = _SlowCounter(fail=False), _SlowCounter(fail=False)
    gather_report_data(emulator, alone, InMemoryObjectStore(), REPORT_NOW, days=10)
    gather_report_data(Settings(gcp_project="p"), together, InMemoryObjectStore(), REPORT_NOW, days=10)
    assert alone.most == 1 and together.most > 1


def test_the_cli_offers_report_and_publish_dataset() -> None:
    from typer.testing import CliRunner

    from shared.cli import app

    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0 and "report" in listed.output and "publish-dataset" in listed.output
    for command in ("report", "publish-dataset"):
        assert CliRunner().invoke(app, [command, "--help"]).exit_code == 0


def test_the_report_imports_without_pandas() -> None:
    """pandas is publish's dependency, not the report's: ``storyrec report`` runs with its own extra."""
    import subprocess
    import sys

    code = "import sys; sys.modules['pandas'] = None; import shared.cli.report, shared.report.gather"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_online_test_shows_arms_exposure_lift_with_its_interval_and_the_verdict() -> None:
    from shared.personalize.state import StageState
    from shared.report.gather import experiment_looks

    page = render_html(full_report_data())
    block = re.search(r'<section data-section="experiments">(.*?)</section>', page, re.S)
    assert block and "test-v5-vs-v4: promote after 12 day(s)" in block.group(1)
    assert "challenger vs champion, clicks_per_user" in block.group(1) and "+8.0% .. +39.0%" in block.group(1)
    assert "<td>control</td><td>85</td>" in block.group(1)
    state = StageState(InMemoryObjectStore("b"), "s/", lambda: datetime(2026, 12, 1, tzinfo=UTC))
    state.record_look("t1", {"experiment_id": "t1", "action": "wait", "days": 3, "arms": [
        {"arm": "champion", "users": 10, "impressions": 50, "clicks": 4, "clicks_per_user": [0.4, 0.1, 0.7]}],
        "lifts": [{"treatment": "champion", "baseline": "control", "metric": "clicks_per_user", "lift": 0.1,
                   "always_valid_interval": [None, 0.5]}], "srm_p": None})
    [look] = experiment_looks(state.looks())
    assert look.arms[0].clicks_per_reader == 0.4 and look.lifts[0].low is None and look.lifts[0].high == 0.5
