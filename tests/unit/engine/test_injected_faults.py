"""The engine's test-only version faults (infra/local/personalize/injected.py): armed by file, consumed once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.personalize import injected
from infra.local.personalize.jobs import Worker
from infra.local.personalize.store import Store
from shared.personalize.metrics import METRIC_RANGES
from shared.personalize.promotion import Evidence, Policy, decide

SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/storyrec-main"


def test_each_armed_fault_is_taken_once_in_order_by_its_solution(tmp_path: Path) -> None:
    injected.arm(tmp_path, "storyrec-main", "fail")
    injected.arm(tmp_path, "storyrec-baseline", "worse")
    injected.arm(tmp_path, "storyrec-main", "no_metrics")
    assert injected.take(tmp_path, "storyrec-main", ("no_metrics", "worse")) == "no_metrics"  # a trained version
    assert injected.take(tmp_path, "storyrec-main") == "fail"
    assert injected.take(tmp_path, "storyrec-main") is None
    assert injected.pending(tmp_path) == [{"solution": "storyrec-baseline", "fault": "worse"}]


def test_no_file_or_a_bad_one_injects_nothing_and_an_unknown_fault_is_refused(tmp_path: Path) -> None:
    assert injected.take(tmp_path, "storyrec-main") is None
    (tmp_path / injected.FILE).write_text("{not json")
    assert injected.take(tmp_path, "storyrec-main") is None
    with pytest.raises(ValueError, match="unknown injected fault"):
        injected.arm(tmp_path, "storyrec-main", "meteor")


def test_metrics_are_dropped_or_halved_and_otherwise_untouched() -> None:
    metrics = {"normalized_discounted_cumulative_gain_at_10": 0.4, "coverage": 0.8}
    assert injected.apply_to_metrics("no_metrics", metrics) == {}
    assert injected.apply_to_metrics("worse", metrics) == {
        "normalized_discounted_cumulative_gain_at_10": 0.2,
        "coverage": 0.4,
    }
    assert injected.apply_to_metrics("overrated", metrics) == {
        "normalized_discounted_cumulative_gain_at_10": 1.0,
        "coverage": 1.0,
    }
    assert injected.apply_to_metrics(None, metrics) == metrics


METRIC = st.floats(0.0, 0.98, allow_nan=False)


@given(serving=st.fixed_dictionaries({n: METRIC for n in METRIC_RANGES}), real=st.fixed_dictionaries(
    {n: METRIC for n in METRIC_RANGES}), baseline=METRIC)
def test_an_overrated_version_passes_the_offline_rule_against_any_serving_version(
    serving: dict[str, float], real: dict[str, float], baseline: float
) -> None:
    """What the fault is for: the offline rule admits the version whatever it really scored, so in promotion
    mode online only the challenger test (the readers) can keep it out."""
    reported = injected.apply_to_metrics("overrated", real)
    evidence = Evidence(reported, {"normalized_discounted_cumulative_gain_at_10": baseline}, "v1", serving)
    assert decide(evidence, Policy(online=True)).action == "test"
    assert decide(evidence, Policy()).action == "promote"


def test_an_armed_failure_fails_the_next_version_of_its_solution_with_a_reason_naming_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    arn = SOLUTION + "/v1"
    store.put("solutionVersions", arn, {"solutionVersionArn": arn, "solutionArn": SOLUTION, "status": "CREATE PENDING"})
    injected.arm(tmp_path, "storyrec-main", "no_metrics")
    injected.arm(tmp_path, "storyrec-main", "fail")
    Worker(store).run_training(arn)
    version = store.get("solutionVersions", arn)
    assert version["status"] == "CREATE FAILED" and "Injected fault" in version["failureReason"]
    assert injected.pending(tmp_path) == [{"solution": "storyrec-main", "fault": "no_metrics"}]  # kept: one that trains
