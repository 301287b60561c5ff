"""One decision, one report, one campaign switch per version, whatever overlaps (issue 19, items 5 and 8):
the real monitor handler (through its Powertools decorators) run by several threads at once, racing a
manual ``storyrec promote``, on moto and the local engine. Campaign switches are counted at the engine,
reports are read back from SNS through an SQS subscription, metric data from the handlers' EMF output."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.operate.promote import PromotionRefused, promote_by_hand
from shared.retry import wait_until
from tests.integration.aws.conftest import DAY, Stage, settle
from tests.integration.aws.test_stage import _campaign_settled

pytestmark = pytest.mark.integration
MONITORS = 4
SLOW_METRICS = 0.5  # seconds


@pytest.fixture
def atomic_moto_puts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make moto's PutObject atomic, as S3 is. moto honours ``If-None-Match: *`` (see
    test_conditional_put_on_moto.py) but checks and stores in two steps without a lock: of 8 writers racing
    for one key, two won in about 1 round in 200. S3 documents the conditional write as atomic (412 or 409)."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    put = S3Response.put_object

    def locked(self: Any) -> Any:
        with lock:
            return put(self)

    monkeypatch.setattr(S3Response, "put_object", locked)
    yield


def _count_switches(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every UpdateCampaign and CreateCampaign the engine is asked for, as (operation, solution version).

    GetSolutionMetrics is made slow (as a loaded Personalize is), so overlapping runs all read an idle
    campaign before any of them switches it: the overlap the issue saw, every time."""
    control = stage.engine.engine.control
    dispatch = control.dispatch
    calls: list[tuple[str, str]] = []

    def counted(operation: str, body: dict[str, Any], region: str | None = None) -> dict[str, Any]:
        if operation in {"UpdateCampaign", "CreateCampaign"}:
            calls.append((operation, str(body.get("solutionVersionArn"))))
        if operation == "GetSolutionMetrics":
            time.sleep(SLOW_METRICS)
        return dispatch(operation, body, region)  # type: ignore[no-any-return]

    monkeypatch.setattr(control, "dispatch", counted)
    return calls


def _trained(stage: Stage, handlers: Any, time: str) -> str:
    """Train (the real handler) and wait until both versions are ACTIVE, without a monitor pass."""
    train = handlers.train(time)
    assert train["deferred"] is None, train
    for arn in train["versions"].values():
        wait_until(
            lambda a=arn: stage.deps.personalize.describe_solution_version(a).status.value,
            lambda s: s in {"ACTIVE", "CREATE FAILED"},
            timeout=240,
            interval=0.5,
            what="solution version",
        )
    return str(train["versions"]["main"])


def _emf_points(out: str, name: str) -> list[dict[str, Any]]:
    """Every data point of metric ``name`` in the EMF blobs in ``out`` (Powertools prints one JSON object
    a line; a metric's value is a number or a list of numbers), each with the blob's dimensions."""
    points = []
    for line in out.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and name in blob and "_aws" in blob:
                values = blob[name] if isinstance(blob[name], list) else [blob[name]]
                points += [{**blob, name: value} for value in values]
    return points


def _reports_for(stage: Stage, version: str) -> list[dict[str, Any]]:
    suffix = version.rsplit("/", 1)[-1]
    return [
        m
        for m in stage.probe.drain()
        if m["Subject"].startswith("storyrec training:") and m["Subject"].split(": ")[1].endswith(suffix)
    ]


def test_overlapping_monitor_passes_and_a_manual_promote_switch_once_and_report_once(
    stage: Stage,
    handlers: Any,
    atomic_moto_puts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    switches = _count_switches(stage, monkeypatch)

    # a first version serves (promoted by the rule, or by hand when held); one handler call, one datum
    handlers.imports(stage.put_export(DAY - timedelta(days=2), seed=-1, run_suffix="noise1"))
    settle(stage)
    first = _trained(stage, handlers, "2026-10-01T03:00:00Z")
    capsys.readouterr()
    summary = handlers.monitor()
    one_call = capsys.readouterr().out
    assert summary["decision"] in {"promote", "hold"}, summary
    [datum] = _emf_points(one_call, "PromotionDecision")
    assert datum["PromotionDecision"] == 1.0 and datum["Action"] == summary["decision"]
    if summary["decision"] == "hold":
        promote_by_hand(stage.deps, first)
    assert _campaign_settled(stage).solution_version_arn == first
    # one report per decision: the hold, then (when held) the operator's promotion
    assert len(_reports_for(stage, first)) == (2 if summary["decision"] == "hold" else 1)

    # a better version: four monitor passes and an operator's `storyrec promote` at the same moment
    handlers.imports(stage.put_export(DAY - timedelta(days=1), per_user=60, seed=3, run_suffix="taste"))
    settle(stage)
    second = _trained(stage, handlers, "2026-11-01T03:00:00Z")
    start = threading.Barrier(MONITORS + 1)
    errors: list[BaseException] = []
    outcomes: list[str] = []

    def run_monitor() -> None:
        start.wait()
        try:
            outcomes.append(str(handlers.monitor()["decision"]))
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    def run_promote() -> None:
        start.wait()
        try:
            outcomes.append("by hand: " + promote_by_hand(stage.deps, second, operator="ana").outcome)
        except PromotionRefused as exc:
            outcomes.append(f"refused: {exc}")
        except BaseException as exc:
            errors.append(exc)

    capsys.readouterr()
    threads = [threading.Thread(target=run_monitor) for _ in range(MONITORS)] + [threading.Thread(target=run_promote)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    race = capsys.readouterr().out
    assert errors == [], errors
    assert [s for s in switches if s[1] == second] == [("UpdateCampaign", second)], (switches, outcomes)
    assert _campaign_settled(stage).solution_version_arn == second
    assert len(_reports_for(stage, second)) == 1, outcomes
    decided = [o for o in outcomes if o in {"promote", "hold", "keep"}]  # passes that won the decision
    assert len(decided) <= 1 and len(_emf_points(race, "PromotionDecision")) == len(decided), outcomes
    record = stage.deps.state.decision_for(second) or {}
    assert record["action"] == "promote" and not record["outcome"].startswith("pending"), record

    # later passes repeat nothing
    assert handlers.monitor()["decision"] is None
    assert [s for s in switches if s[1] == second] == [("UpdateCampaign", second)]
    assert _reports_for(stage, second) == []
