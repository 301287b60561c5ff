"""The release invariant (infra/local/simulate/release.py) on releases the product writes from a made-up export."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.simulate import release
from infra.local.simulate.world import SentClick

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


class World:
    def __init__(self, clicks: list[SentClick]) -> None:
        self.clicks, self.readers, self.left = clicks, {c.uid: None for c in clicks}, {}


def _clicks() -> list[SentClick]:
    return [
        SentClick(f"c{u}{s}", f"r{u}", f"s{s}", "open", T0 + timedelta(hours=u + s), outcome="captured")
        for u in range(8)
        for s in range(6)
    ]


def _write(out: Path, rows: list[tuple[str, str, int, str]], **meta: Any) -> None:
    import hashlib
    import json

    from shared.publish import pseudonym

    out.mkdir()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE"] + [
        f"{pseudonym(release.KEY.encode(), u)},{s},{t},{k}" for u, s, t, k in rows
    ]
    (out / "interactions.csv").write_text("\n".join(lines) + "\n")
    files = {"interactions.csv": hashlib.sha256((out / "interactions.csv").read_bytes()).hexdigest()}
    body = {"interactions": len(rows), "interactions_removed": 0, "files": files}
    body["settings"] = {"time_grain": "week", "min_users": 2, "max_items_per_user": 10}
    (out / "release.json").write_text(json.dumps({**body, **meta}))


def _week(t: datetime) -> int:
    from shared.release.transforms import coarse_time

    return coarse_time(int(t.timestamp()), "week")


def test_a_release_of_the_exported_clicks_is_ok(tmp_path: Path) -> None:
    clicks = _clicks()
    _write(tmp_path / "r", [(c.uid, c.sid, _week(c.created), c.type) for c in clicks])
    [check] = release.check_release(World(clicks), [c.key for c in clicks], tmp_path / "r", {"exit": 0})  # type: ignore[arg-type]
    assert check.status == "ok", check.examples


def test_a_hostile_or_unexported_row_a_raw_uid_or_a_wrong_count_is_a_violation(tmp_path: Path) -> None:
    clicks = _clicks()
    hostile = replace(clicks[0], click_id="h", sid="never-published", hostile="unknown_story", outcome="quarantined")
    rows = [(c.uid, c.sid, _week(c.created), c.type) for c in clicks]
    rows.append((hostile.uid, hostile.sid, _week(hostile.created), "open"))
    _write(tmp_path / "r", rows, interactions=len(rows) + 1)
    world = World([*clicks, hostile])
    [check] = release.check_release(world, [c.key for c in clicks], tmp_path / "r", {"exit": 0})  # type: ignore[arg-type]
    assert check.status == "violated"
    assert any("never-published" in e for e in check.examples)
    assert any("interactions, the file has" in e for e in check.examples)


def test_a_refusal_that_wrote_nothing_is_not_checked_and_says_why(tmp_path: Path) -> None:
    out = {"exit": 1, "output": "refused: only 3 users ..."}
    [check] = release.check_release(World(_clicks()), [], tmp_path / "absent", out)  # type: ignore[arg-type]
    assert check.status == "not checked" and "only 3 users" in check.detail
    [crash] = release.check_release(World(_clicks()), [], tmp_path / "absent", {"exit": 2, "output": "boom"})  # type: ignore[arg-type]
    assert crash.status == "violated"
