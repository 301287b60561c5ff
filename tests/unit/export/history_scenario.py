"""The first load of history and its handover to the daily export, as one scenario over any ExportDeps.

Run over in-memory fakes (tests/unit/export/test_history.py) and over the Firestore emulator, moto and
the GCS emulator (tests/integration/export/test_history_stack.py).

Timeline (UTC): capture is deployed on 2026-11-29 at 13:00 and captures live clicks; the backfill at
14:00-14:30 replays 2025's clicks (their TIMESTAMP is 2025, their ``captured_at`` the backfill's); the
operator runs ``storyrec export --history`` at 15:00, so the boundary is 14:50; live clicks go on.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.export import ExportDeps, ExportOptions, run_export
from shared.export.guards import DateRejected
from shared.export.history import HISTORY_BOUNDARY, HISTORY_DAY, HistoryExported
from shared.export.run import run_history
from shared.manifest import check_importable, manifest_key, parse_manifest
from tests.unit.export.factories import interaction, item, read_csv, seed, user

DEPLOYED = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
BACKFILL = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
HISTORY_AT = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
BOUNDARY = HISTORY_AT - ExportOptions().settle
HISTORY_DATE = date(2026, 11, 28)  # the day before the boundary's: no daily export can have it
FIRST_DAILY = date(2026, 11, 29)
OLD = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())


def live(n: int, at: datetime) -> tuple[str, dict[str, Any]]:
    return interaction(n, at)


def backfilled(n: int) -> tuple[str, dict[str, Any]]:
    """A 2025 click replayed by the backfill: old TIMESTAMP, captured during the backfill."""
    return interaction(n, BACKFILL + timedelta(seconds=n % 1800), TIMESTAMP=OLD + 3600 * n)


def at(deps: ExportDeps, now: datetime) -> ExportDeps:
    return replace(deps, clock=lambda: now)


def exported_ids(store: Any, key: str) -> list[str]:
    """Each click's TIMESTAMP (unique in this scenario) from every interactions file a manifest lists."""
    manifest = json.loads(store.get_bytes(key))
    rows = []
    for f in manifest["datasets"]["interactions"]["files"]:
        header, *body = read_csv(store.get_bytes(f["key"]))
        rows += [r[header.index("TIMESTAMP")] for r in body]
    return rows


def ids(docs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return sorted(str(d["TIMESTAMP"]) for _, d in docs)


def everything(store: Any) -> dict[str, bytes]:
    return {o.key: store.get_bytes(o.key) for o in store.list("")}


def run_scenario(deps: ExportDeps, options: ExportOptions | None = None) -> None:
    options = options or ExportOptions()
    early = [live(i, DEPLOYED + timedelta(minutes=i)) for i in range(20)]  # live before the backfill
    history = [backfilled(1_000 + i) for i in range(300)]
    just_before = [live(5_000 + i, BOUNDARY - timedelta(seconds=1 + i)) for i in range(3)]
    after = [live(6_000 + i, BOUNDARY + timedelta(seconds=i)) for i in range(4)]  # the first is AT the boundary
    seed(deps.docs, "ml_interactions", early + history + just_before + after)
    seed(deps.docs, "ml_items", [item(f"s{i}") for i in range(11)])
    seed(deps.docs, "ml_users", [user(f"u{i}") for i in range(7)])

    # before the history: the daily export has nothing it may export yet (today is not over)
    try:
        run_export(FIRST_DAILY, at(deps, HISTORY_AT), options)
        raise AssertionError("today was exported")
    except DateRejected:
        pass

    result = run_history(at(deps, HISTORY_AT), options)
    key = manifest_key(deps.prefix, HISTORY_DATE)
    assert result.manifest_key == key and result.date == HISTORY_DATE
    assert result.window.end == BOUNDARY
    manifest = parse_manifest(deps.import_store.get_bytes(key))
    check_importable(manifest, key, deps.prefix)  # what the import Lambda checks
    assert manifest.dataset("interactions").import_mode == "INCREMENTAL"  # type: ignore[union-attr]
    first_load = exported_ids(deps.import_store, key)
    assert sorted(first_load) == ids(early + history + just_before)
    state = deps.docs.get("ml_state/export") or {}
    assert state["watermark"] == BOUNDARY and state[HISTORY_BOUNDARY] == BOUNDARY
    assert state[HISTORY_DAY] == HISTORY_DATE.isoformat()
    s3, gcs = everything(deps.import_store), everything(deps.backup_store)
    assert s3 == gcs

    # a rerun an hour later (more live clicks since) re-exports exactly the recorded window, byte-identical
    later = [live(7_000 + i, HISTORY_AT + timedelta(minutes=i)) for i in range(5)]
    seed(deps.docs, "ml_interactions", later)
    again = run_history(at(deps, HISTORY_AT + timedelta(hours=1)), options)
    assert again.run_id == result.run_id and again.window == replace(result.window, rerun=True)
    assert everything(deps.import_store) == s3 and everything(deps.backup_store) == gcs

    # the first daily export starts exactly at the boundary: nothing missing, nothing twice
    tomorrow = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    daily = run_export(FIRST_DAILY, at(deps, tomorrow), options)
    assert daily.window.start == BOUNDARY
    delta = exported_ids(deps.import_store, daily.manifest_key)
    assert not set(delta) & set(first_load)
    assert sorted(delta) == ids(after + later)

    # once the daily exports run, a new history export is refused (a rerun of the recorded one stays possible)
    fresh = replace(deps, docs=_without_history(deps))
    try:
        run_history(at(fresh, tomorrow), options)
        raise AssertionError("a second history was exported")
    except HistoryExported:
        pass


def _without_history(deps: ExportDeps) -> Any:
    """The same store with the history's record removed (as if only daily exports had run)."""
    state = dict(deps.docs.get("ml_state/export") or {})
    state.pop(HISTORY_DAY, None)
    state.pop(HISTORY_BOUNDARY, None)
    deps.docs.set("ml_state/export", state)
    return deps.docs
