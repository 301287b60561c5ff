"""performHPO and the automatic blend choice as boto3 sees them (DescribeSolutionVersion.tunedHPOParams)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.engine.conftest import RECIPE, train_solution, unique

pytestmark = pytest.mark.integration

HPO = {
    "hpoObjective": {"type": "Maximize", "metricName": "precision_at_10"},
    "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3", "maxParallelTrainingJobs": "1"},
    "algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "hidden_dimension", "minValue": 8, "maxValue": 24}],
        "continuousHyperParameterRanges": [
            {"name": "recency_half_life_days", "minValue": 1, "maxValue": 90},
            {"name": "blend_taste", "minValue": 0.5, "maxValue": 2},
        ],
    },
}
WIDE_WINDOW = {"name": "sequence_window", "minValue": 1, "maxValue": 1000}


def test_hpo_reports_tuned_params(
    personalize: Any, trained: Any, assert_shape: Callable[[Any, str, dict[str, Any]], None]
) -> None:
    solution, version = train_solution(
        personalize,
        trained.group_arn,
        "aws-user-personalization",
        performHPO=True,
        solutionConfig={"hpoConfig": HPO},
    )
    assert version["status"] == "ACTIVE", version
    described = personalize.describe_solution_version(solutionVersionArn=version["solutionVersionArn"])
    assert_shape(personalize, "DescribeSolutionVersion", described)
    tuned = described["solutionVersion"]["tunedHPOParams"]["algorithmHyperParameters"]
    assert all(isinstance(v, str) for v in tuned.values())
    assert 8 <= int(tuned["hidden_dimension"]) <= 24
    assert 1 <= float(tuned["recency_half_life_days"]) <= 90
    assert 0.5 <= float(tuned["blend_taste"]) <= 2
    assert described["solutionVersion"]["performHPO"] is True
    assert personalize.describe_solution(solutionArn=solution)["solution"]["performHPO"] is True


def test_without_hpo_the_blend_is_still_chosen_and_reported(personalize: Any, trained: Any) -> None:
    found = personalize.describe_solution_version(solutionVersionArn=trained.version_arn)["solutionVersion"]
    tuned = found["tunedHPOParams"]["algorithmHyperParameters"]
    assert {"blend_taste", "blend_repeat", "blend_sequence", "popularity_half_life_days"} <= set(tuned)
    assert {"sequence_window", "recent_rank_decay"} <= set(tuned)  # the sequence part's chosen shape
    assert "hidden_dimension" not in tuned  # only HPO tunes the model's own settings


@pytest.mark.parametrize(
    ("recipe", "hpo", "message"),
    [
        ("aws-user-personalization", {"hpoObjective": {"metricName": "accuracy"}}, "metricName"),
        ("aws-user-personalization", {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "41"}}, "between 1 and 40"),
        ("aws-popularity-count", {}, "not supported"),
        (
            "aws-user-personalization",
            {"algorithmHyperParameterRanges": {"integerHyperParameterRanges": [WIDE_WINDOW]}},
            "sequence_window must be between 1 and 50",
        ),
    ],
)
def test_bad_hpo_requests_are_rejected(
    personalize: Any, trained: Any, recipe: str, hpo: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=unique("hpo"),
            datasetGroupArn=trained.group_arn,
            recipeArn=RECIPE + recipe,
            performHPO=True,
            solutionConfig={"hpoConfig": hpo},
        )
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert message in err.value.response["Error"]["Message"]


def test_an_out_of_bounds_setting_fails_the_version_with_a_reason(personalize: Any, trained: Any) -> None:
    _, version = train_solution(
        personalize,
        trained.group_arn,
        "aws-user-personalization",
        performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": {"sequence_window": "1000000"}},
    )
    assert version["status"] == "CREATE FAILED"
    assert "sequence_window must be between 1 and 50" in version["failureReason"]
