"""Two solution slots on the real local engine (moto + the engine, the real handlers): a candidate kept out
is trained on the slot that does not serve, so the serving version stays its solution's latest and keeps
Personalize's automatic updates (infra/local/personalize/autoupdate.py follows the docs: only the latest
version of a solution is updated). Before the slots, the kept-out candidate was a newer version of the
serving solution, and the serving version never learned a story published after it."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.personalize import clock
from shared.personalize.stage import campaign_arn
from tests.integration.aws.conftest import DAY, Stage, settle
from tests.integration.aws.test_stage import _campaign_settled, _decide

pytestmark = pytest.mark.integration
ITEMS = 90  # the stories of the exports that train; the later export publishes NEW more


def test_a_kept_out_candidate_leaves_the_serving_version_taking_new_stories(stage: Stage, handlers: Any) -> None:
    from shared.operate.promote import promote_by_hand

    state: Path = stage.engine.engine.store.root
    handlers.imports(stage.put_export(DAY - timedelta(days=2), per_user=60, seed=3, run_suffix="taste"))
    settle(stage)
    first = _decide(stage, handlers, "2026-10-01T03:00:00Z")
    if first["action"] != "promote":  # nothing served: the rule promotes, or holds for an operator
        promote_by_hand(stage.deps, first["candidate"])
    serving = _campaign_settled(stage).solution_version_arn
    assert serving == first["candidate"]

    # a month of random clicks: the candidate is worse, kept out; the campaign keeps serving the first version
    handlers.imports(stage.put_export(DAY - timedelta(days=1), per_user=60, seed=-5, run_suffix="noise"))
    settle(stage)
    worse = _decide(stage, handlers, "2026-11-01T03:00:00Z")
    assert worse["action"] in ("keep", "hold"), worse
    assert _campaign_settled(stage).solution_version_arn == serving

    # stories published after both trainings, then more than two hours of the engine's clock
    handlers.imports(stage.put_export(DAY, items=ITEMS + 10, run_suffix="fresh"))
    settle(stage)
    new = {f"story-{i}" for i in range(ITEMS, ITEMS + 10)}
    arn = campaign_arn(stage.deps)
    assert arn
    try:
        clock.set_now(state, time.time() + 3 * 3600)
        answer = stage.deps.personalize.get_recommendations(arn, "user-0", num_results=500)
    finally:
        (state / clock.FILE).unlink(missing_ok=True)  # the package's engine goes back to real time
    assert new & set(answer.item_ids), "the serving version took no story published after it (no automatic update)"
    # the first training (nothing served) went to the first slot, the kept-out candidate to the second
    name = stage.settings.personalize.solution
    assert _solution(serving) == name and _solution(worse["candidate"]) == f"{name}-b", (serving, worse["candidate"])


def _solution(version_arn: str) -> str:
    """The solution name in a version's ARN (``...:solution/<name>/<id>``)."""
    return version_arn.split(":solution/", 1)[1].split("/", 1)[0]
