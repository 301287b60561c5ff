"""``storyrec recommend``: human times, and an unknown user answered with a warning and exit 3."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.cli.common import EXIT_UNKNOWN_USER
from shared.operate.recommend import recommend_for, when
from tests.unit.cli.test_recommend_commands import world  # noqa: F401  (fixture)

pytestmark = pytest.mark.unit


def test_reads_show_a_human_time_not_epoch_seconds(world: Any) -> None:  # noqa: F811
    result = recommend_for(world.deps, "alice")
    assert all(re.search(r" at \d{4}-\d\d-\d\d \d\d:\d\d UTC$", line.detail) for line in result.recent)
    assert when(0) == "1970-01-01 00:00 UTC" and when("x") == "?" and when(None) == "?"


def test_an_unknown_user_is_answered_with_a_warning_and_exit_3(world: Any) -> None:  # noqa: F811
    assert recommend_for(world.deps, "alice").known and not recommend_for(world.deps, "nobody").known
    shown = world.run("recommend", "--user", "nobody")
    assert shown.exit_code == EXIT_UNKNOWN_USER == 3
    assert "warning: unknown user 'nobody'" in shown.output and "popular" in shown.output
    as_json = world.run("recommend", "--user", "nobody", "--json")
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["known"] is False
    assert world.run("recommend", "--user", "alice").exit_code == 0


def test_a_user_with_a_profile_but_no_reads_is_known(world: Any) -> None:  # noqa: F811
    world.docs.set("ml_users/carol", {"USER_ID": "carol"})
    assert recommend_for(world.deps, "carol").known
