"""Promotion mode ``online`` through the real handlers, on moto (S3, SNS) and the local Personalize engine:
the offline rule admits a better-trained version to the challenger test, and the test's exposure files
(generated readers whose tastes the generator knows, infra/local/readers.py) promote it once, with one
report showing the arms and the lift."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from infra.local.readers import Readers, personalised, popular, run_test
from shared.experiment.exposure import exposure_key, to_csv
from shared.personalize.online import experiment, exposure_prefix
from tests.integration.aws.conftest import DAY, Stage, settle
from tests.integration.aws.test_stage import _campaign_settled, _decide

pytestmark = pytest.mark.integration


def test_a_version_admitted_by_the_offline_rule_is_promoted_by_its_test(
    stage: Stage, handlers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.operate.promote import promote_by_hand

    monkeypatch.setenv("STORYREC_PROMOTION_MODE", "online")
    monkeypatch.setenv("STORYREC_EXPERIMENT_EXPECTED_USERS", "2000")
    handlers.imports(stage.put_export(DAY - timedelta(days=2), seed=-1, run_suffix="noise1"))
    settle(stage)
    first = _decide(stage, handlers, "2026-10-01T03:00:00Z")
    if first["action"] != "promote":  # nothing served: the offline rule promotes, or holds for an operator
        promote_by_hand(stage.deps, first["candidate"])
    champion = _campaign_settled(stage).solution_version_arn

    handlers.imports(stage.put_export(DAY - timedelta(days=1), per_user=60, seed=3, run_suffix="taste"))
    settle(stage)
    admitted = _decide(stage, handlers, "2026-11-01T03:00:00Z")
    assert admitted["action"] == "test" and admitted["outcome"] == "admitted to the challenger test", admitted
    candidate = admitted["candidate"]
    assert stage.deps.state.current_test() is not None
    assert _campaign_settled(stage).solution_version_arn == champion  # the test decides, not the offline rule

    assert handlers.monitor()["decision"] is None  # no exposure yet: the test waits
    settings = stage.deps.settings
    test = experiment(settings, champion, candidate)
    policies = {"champion": personalised(1.0), "challenger": personalised(0.3), "control": popular}
    for d, rows in enumerate(run_test(Readers(8000, seed=5), test, policies, 14, 5)):
        key = exposure_key(exposure_prefix(settings), test.experiment_id or "", date(2026, 11, 2) + timedelta(d))
        stage.s3.put_object(Bucket=settings.import_bucket, Key=key, Body=to_csv(rows))
    summary = handlers.monitor()
    assert summary["decision"] == "promote", summary
    assert _campaign_settled(stage).solution_version_arn == candidate
    record = stage.deps.state.decision_for(candidate)
    assert record and record["action"] == "promote" and record["test"]["action"] == "promote"
    assert stage.deps.state.current_test() is None
    reports = [m for m in stage.probe.drain() if m["Subject"].startswith("storyrec training: promote")]
    assert len(reports) == 2  # the first version's promotion (by the rule, or by hand after a hold), then the test's
    assert "challenger vs champion, clicks_per_user" in reports[-1]["Message"]
    assert handlers.monitor()["decision"] is None  # decided once
