"""``storyrec bootstrap | import | train | promote`` against moto and the local Personalize engine."""

from __future__ import annotations

from typing import Any

import pytest

from shared.retry import wait_until
from tests.integration.aws.conftest import settle
from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.integration


def test_bootstrap_plans_creates_once_then_changes_nothing(cli: Cli) -> None:
    config = str(cli.config)
    dry = cli.json("bootstrap", "--config", config, "--dry-run")
    assert dry["dry_run"] and not dry["changed"]
    actions = {(s["kind"], s["name"]): s["action"] for s in dry["steps"]}
    names = cli.stage.settings.personalize
    assert actions[("dataset_group", names.dataset_group)] == "create"
    assert actions[("solution", names.solution)] == "create"
    assert actions[("campaign", names.campaign)] == "deferred"
    port = cli.stage.deps.personalize
    assert port.find_arn("dataset_group", names.dataset_group) is None  # a dry run creates nothing

    first = cli.json("bootstrap", "--config", config)
    assert first["changed"]
    group = port.find_arn("dataset_group", names.dataset_group)
    import os

    from shared.config import Settings
    from shared.operate.bootstrap import feed_filter

    feed = feed_filter(Settings.from_env(os.environ))
    assert group and port.find_arn("filter", feed.name, group)  # the filter the feed fill uses
    assert port.find_arn("solution", cli.stage.settings.aws_stage.baseline_solution, group)
    datasets = [s["arn"] for s in first["steps"] if s["kind"] == "dataset"]
    assert len(datasets) == 3 and all(port.dataset_status(a).value == "ACTIVE" for a in datasets)
    attribution = next(s for s in first["steps"] if s["kind"] == "metric_attribution")
    assert attribution["action"] == "created" and attribution["arn"] == port.find_arn(
        "metric_attribution", attribution["name"], group
    )
    control = port._control  # the boto3 client: what the engine stored, as Personalize would describe it
    described = control.describe_metric_attribution(metricAttributionArn=attribution["arn"])["metricAttribution"]
    bucket = cli.stage.settings.import_bucket
    assert described["metricsOutputConfig"]["s3DataDestination"]["path"].startswith(f"s3://{bucket}/")
    metrics = control.list_metric_attribution_metrics(metricAttributionArn=attribution["arn"])["metrics"]
    assert {(m["eventType"], m["expression"]) for m in metrics} >= {
        ("open", "SAMPLECOUNT()"),
        ("read", "SAMPLECOUNT()"),
    }

    second = cli("bootstrap", "--config", config)
    assert second.exit_code == 0 and "nothing changed" in second.output
    again = cli.json("bootstrap", "--config", config, "--dry-run")
    assert {s["action"] for s in again["steps"] if s["kind"] != "campaign"} == {"exists"}


def test_import_train_and_promote_by_hand(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.personalize.monitor import monitor

    monkeypatch.setenv("STORYREC_PROMOTION_MODE", "manual")
    stage = cli.stage
    assert cli.json("bootstrap", "--config", str(cli.config))["changed"]
    key = stage.put_export(per_user=40, seed=3)
    imported = cli.json("import")  # the latest manifest
    assert imported["manifest_key"] == key and len(imported["started"]) == 3
    assert cli.json("import", key)["existing"] == imported["started"]  # a rerun starts nothing
    settle(stage)

    run = cli.json("train", "--name", "cli-run")
    assert set(run["versions"]) == {"main", "baseline"}
    port = stage.deps.personalize
    for arn in run["versions"].values():
        wait_until(lambda a=arn: port.describe_solution_version(a).status, lambda s: s.settled, timeout=240)

    from dataclasses import replace

    from shared.config import Settings

    manual = replace(stage.deps, settings=Settings.from_env({**stage.env, "STORYREC_PROMOTION_MODE": "manual"}))
    report = monitor(manual)
    assert report.decision and report.decision["action"] == "hold", report
    assert f"storyrec promote --version {run['versions']['main']}" in report.decision["promote_command"]

    promoted: Any = cli.json("promote")  # the held version
    assert promoted["version_arn"] == run["versions"]["main"]
    history = stage.deps.state.decision_for(run["versions"]["main"])
    assert history and history["action"] == "promote" and "by hand" in history["reasons"][0]
    campaign = port.find_arn("campaign", stage.settings.personalize.campaign)
    assert campaign and port.describe_campaign(campaign).solution_version_arn == run["versions"]["main"]
    refused = cli("promote", "--version", run["versions"]["main"])
    assert refused.exit_code == 1 and "already serves" in refused.output

    status = cli.json("status", "--no-firestore")  # every AWS-side section, read back from moto and the engine
    assert status["healthy"] and status["problems"] == []
    assert status["last_export"]["manifest_key"] == key and status["last_export"]["rows"]["interactions"] == 60 * 40
    assert status["imports"]["pending"] == [] and len(status["imports"]["last"]) == 3
    versions = {v["arn"]: v for v in status["versions"]}
    main = versions[run["versions"]["main"]]
    assert main["decision"] == "promote" and "normalized_discounted_cumulative_gain_at_10" in main["metrics"]
    assert versions[run["versions"]["baseline"]]["solution"] == "baseline"
    assert status["campaign"]["solution_version_arn"] == run["versions"]["main"]
    assert any("hold" in a["subject"] for a in status["alerts"])
