"""``storyrec evaluate`` on the local engine: two exports in moto, three recipes trained side by side."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.aws.conftest import DAY
from tests.integration.cli.conftest import Cli

pytestmark = pytest.mark.integration
NDCG = "normalized_discounted_cumulative_gain_at_10"


def test_recipes_side_by_side_on_the_exports_and_a_rerun_reuses_them(cli: Cli) -> None:
    stage = cli.stage
    stage.put_export(DAY - timedelta(days=1), per_user=30, seed=3, run_suffix="one")
    stage.put_export(DAY, per_user=30, seed=4, run_suffix="two")
    result = cli.json("evaluate", "-r", "aws-user-personalization", "-r", "aws-popularity-count", "-r", "aws-sims")
    by_recipe = {r["recipe"]: r for r in result["results"]}
    assert len(result["manifests"]) == 2 and set(by_recipe) == {
        "aws-user-personalization",
        "aws-popularity-count",
        "aws-sims",
    }
    personal, popular = by_recipe["aws-user-personalization"], by_recipe["aws-popularity-count"]
    assert personal["status"] == "ACTIVE" and popular["status"] == "ACTIVE"
    # users who read one category: personalisation must beat popularity on the same split
    assert personal["metrics"][NDCG] > popular["metrics"][NDCG]
    port = stage.deps.personalize
    group = result["dataset_group_arn"]
    jobs = [
        j
        for t in ("interactions", "items", "users")
        for j in port.list_import_jobs(port.find_arn("dataset", f"{group.rsplit('/', 1)[-1]}-{t}", group) or "")
    ]
    assert sorted(j.import_mode for j in jobs) == [
        "FULL",
        "FULL",
        "INCREMENTAL",
        "INCREMENTAL",
    ]  # newest snapshots only
    assert group != port.find_arn("dataset_group", stage.settings.personalize.dataset_group)  # never the serving group

    again = cli.json("evaluate", "-r", "aws-user-personalization", "-r", "aws-popularity-count", "-r", "aws-sims")
    assert {r["solution_version_arn"] for r in again["results"]} == {
        r["solution_version_arn"] for r in result["results"]
    }
    table = cli("evaluate", "-r", "aws-user-personalization", "-r", "aws-popularity-count")
    assert table.exit_code == 0 and "beats the popularity baseline" in table.output


def test_no_export_or_a_bad_recipe_is_refused(cli: Cli) -> None:
    assert cli("evaluate").exit_code == 1
    assert cli("evaluate", "-r", "not a recipe").exit_code == 2


def test_cleanup_deletes_the_scratch_group_and_never_the_serving_one(cli: Cli) -> None:
    stage = cli.stage
    port = stage.deps.personalize
    serving = port.find_arn("dataset_group", stage.settings.personalize.dataset_group)
    stage.put_export(DAY, per_user=30, seed=5, run_suffix="cleanup")
    result = cli.json("evaluate", "-r", "aws-popularity-count", "--cleanup")
    group = result["dataset_group_arn"]
    assert result["results"][0]["status"] == "ACTIVE"
    assert group in result["deleted"] and any(":solution/" in arn for arn in result["deleted"])
    assert port.find_arn("dataset_group", group.rsplit("/", 1)[-1]) is None
    assert port.list_arns("solution", group) == [] and port.list_arns("dataset", group) == []
    assert serving is None or port.find_arn("dataset_group", stage.settings.personalize.dataset_group) == serving
    assert port.list_arns("schema")  # the schemas are shared by name with the serving group and stay

    again = cli.json("evaluate", "-r", "aws-popularity-count", "--cleanup")  # a rerun rebuilds, then cleans again
    assert again["dataset_group_arn"] == group and group in again["deleted"]


def test_cleanup_refuses_a_group_that_is_not_a_scratch_group(cli: Cli) -> None:
    from shared.operate.evaluate import EvaluationFailed, remove_scratch_group

    stage = cli.stage
    serving = stage.deps.personalize.ensure_dataset_group(stage.settings.personalize.dataset_group)
    with pytest.raises(EvaluationFailed, match="not an evaluation's scratch"):
        remove_scratch_group(stage.deps, serving, timeout=5)
    assert stage.deps.personalize.find_arn("dataset_group", stage.settings.personalize.dataset_group) == serving
