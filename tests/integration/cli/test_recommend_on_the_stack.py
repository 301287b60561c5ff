"""``storyrec recommend --user`` and ``storyrec feeds refresh`` on the stack: the Firestore emulator, moto and the
local Personalize engine serving a campaign trained on a Deskdrop subset (the recommend stage's fixtures)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.recommend.conftest import Deskdrop, deskdrop, seeded  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def test_recommend_then_refresh_one_user_and_two(
    deskdrop: Deskdrop,  # noqa: F811
    seeded: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.cli import app

    # no holdout: the control arm is salted by the engine's random version id, so either reader would land in it
    # (popular feed) in about 1 run of 10; the arms are tested in tests/integration/recommend
    extra = {"STORYREC_FEED_MAX_STORY_AGE_DAYS": "36500", "STORYREC_EXPERIMENT_CONTROL_SHARE": "0"}
    for key, value in {**deskdrop.env, **extra}.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    counts = deskdrop.interactions["USER_ID"].value_counts()
    uid, other = str(counts.index[0]), str(counts.index[1])

    shown = runner.invoke(app, ["recommend", "--user", uid, "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    mine = deskdrop.interactions[deskdrop.interactions["USER_ID"] == counts.index[0]].sort_values("TIMESTAMP")
    read = set(mine["ITEM_ID"].astype(str))
    assert body["solution_version_arn"] == deskdrop.solution_version_arn and len(body["recommended"]) == 10
    recommended = {line["story_id"] for line in body["recommended"]}
    # the feed's filter sees a reader's last 200 events (150: clear of same-second ties at the edge)
    assert not recommended & set(mine["ITEM_ID"].astype(str).tail(150))
    # older reads of a reader with more events may come back (generated data's busiest reader has them): the
    # fill drops them, and the command marks them so
    for line in body["recommended"]:
        assert ("already read" in line["detail"]) == (line["story_id"] in read), line
    assert {line["story_id"] for line in body["recent"]} <= read and body["recent"][0]["title"].startswith("Story ")
    assert seeded.get(f"feeds/{uid}") is None  # read-only

    one = runner.invoke(app, ["feeds", "refresh", "--user", uid, "--json"])
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["kind"] == "personalized" and seeded.get(f"feeds/{uid}")["kind"] == "personalized"

    two = runner.invoke(app, ["feeds", "refresh", "-u", uid, "-u", other, "--json"])
    assert two.exit_code == 0, two.output
    assert json.loads(two.stdout)["personalized"] == 2 and seeded.get(f"feeds/{other}") is not None
