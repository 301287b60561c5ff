"""The scheduled feed fill in the Functions emulator: one fill per tick, however often the tick is delivered.

The demo's scheduled fill used to run twice per scheduler POST: the emulator's readiness probe
(``GET /__/health`` on a fresh Python runtime) reaches the function too, and the scheduler wrapper runs it for
any request, dated "now" without the scheduler's headers. The handler now ignores a request that names no
scheduler job, and a second delivery of the same tick finds the tick's create-only claim and does nothing.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.local.demo.feeds import FEED_FILL_FUNCTION, scheduler_tick
from infra.local.demo.runner import deployed_functions
from infra.local.firebase import emulators
from shared.recommend.feeds import run_id_for

pytestmark = pytest.mark.e2e


def _fills(log: str) -> list[str]:
    """The run ids of the fills that started, in the suite's log."""
    found = []
    for line in log.splitlines():
        match = re.search(r"\{.*\}", line)
        if match and '"feed fill started"' in line:
            found.append(json.loads(match.group(0))["run_id"])
    return found


def test_each_tick_fills_once_however_often_it_is_delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        tools_env = emulators.setup()
        emulators.bundle()
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)
    tick = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    run_id = run_id_for(tick)
    with emulators.firebase_suite(tmp_path / "suite", tools_env, deployed_functions(), 240.0, pubsub=True) as suite:
        url = f"http://127.0.0.1:{suite.functions_port}"
        assert scheduler_tick(url, FEED_FILL_FUNCTION, tick) == 200  # first delivery: a cold runtime is probed
        assert scheduler_tick(url, FEED_FILL_FUNCTION, tick) == 200  # the same tick delivered again
        time.sleep(2)  # the log is written by the emulator's process
        log = suite.output()
        assert _fills(log) == [run_id], log[-4000:]
        assert "not a Cloud Scheduler delivery" in log and "this tick was already delivered" in log

        from google.cloud import firestore  # type: ignore[attr-defined]

        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", suite.firestore_host)
        claim = firestore.Client(project=emulators.PROJECT).document(f"ml_state/feed_run_{run_id}").get().to_dict()
        assert claim is not None and claim["status"] == "done"

        later = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # the next day's tick is a run of its own
        assert scheduler_tick(url, FEED_FILL_FUNCTION, later) == 200
        time.sleep(2)
        assert _fills(suite.output()) == [run_id, run_id_for(later)]
