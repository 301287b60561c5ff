"""Runtime conformance through a real boto3 ``personalize-runtime`` client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.engine.conftest import train_solution, unique, wait_for

pytestmark = pytest.mark.integration


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_recommendations_shape_and_defaults(runtime: Any, trained: Any, assert_shape: Any) -> None:
    out = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u4")
    assert_shape(runtime, "GetRecommendations", out)
    assert len(out["itemList"]) == 25
    assert out["recommendationId"]
    scores = [i["score"] for i in out["itemList"]]
    assert scores == sorted(scores, reverse=True)
    favourite = sum(int(i["itemId"][1:]) % 3 == 1 for i in out["itemList"][:10])
    assert favourite >= 6, "u4 reads category 1 mostly; recommendations should follow"


def test_unknown_user_gets_popular_items(runtime: Any, trained: Any) -> None:
    out = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="never-seen", numResults=5)
    assert len(out["itemList"]) == 5


@pytest.mark.parametrize("num", [0, 501])
def test_num_results_out_of_range(runtime: Any, trained: Any, num: int) -> None:
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u1", numResults=num)
    assert code(exc) == "InvalidInputException"


def test_user_personalization_needs_a_user(runtime: Any, trained: Any) -> None:
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(campaignArn=trained.campaign_arn, itemId="i1")
    assert code(exc) == "InvalidInputException"


def test_unknown_campaign(runtime: Any) -> None:
    with pytest.raises(ClientError) as exc:
        runtime.get_recommendations(campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/no", userId="u1")
    assert code(exc) == "ResourceNotFoundException"


def test_interaction_filter_excludes_read_items(personalize: Any, runtime: Any, trained: Any, engine_env: Any) -> None:
    arn = personalize.create_filter(
        name=unique("unread"),
        datasetGroupArn=trained.group_arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("read", "like")',
    )["filterArn"]
    out = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u1", numResults=50, filterArn=arn)
    model = engine_env.engine.engine.store.model(trained.version_arn)
    seen = {str(model.item_ids[i]) for i in model.history.of(model.user_index["u1"])[0]}
    assert out["itemList"] and not seen & {i["itemId"] for i in out["itemList"]}


def test_item_filter_with_parameters(personalize: Any, runtime: Any, trained: Any) -> None:
    arn = personalize.create_filter(
        name=unique("cat"),
        datasetGroupArn=trained.group_arn,
        filterExpression="INCLUDE ItemID WHERE Items.CATEGORY IN ($CATS) | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("like")',
    )["filterArn"]
    out = runtime.get_recommendations(
        campaignArn=trained.campaign_arn,
        userId="u1",
        numResults=20,
        filterArn=arn,
        filterValues={"CATS": '"sport"'},
    )
    assert out["itemList"]
    assert all(int(i["itemId"][1:]) % 3 == 1 for i in out["itemList"])  # sport = i % 3 == 1


def test_personalized_ranking(personalize: Any, runtime: Any, trained: Any, assert_shape: Any) -> None:
    out = runtime.get_personalized_ranking(
        campaignArn=trained.campaign_arn, userId="u4", inputList=["i0", "i1", "i2", "i4", "unknown-item"]
    )
    assert_shape(runtime, "GetPersonalizedRanking", out)
    ranked = [i["itemId"] for i in out["personalizedRanking"]]
    assert sorted(ranked) == sorted(["i0", "i1", "i2", "i4", "unknown-item"])
    assert ranked[-1] == "unknown-item"
    assert int(ranked[0][1:]) % 3 == 1


@pytest.mark.parametrize("recipe", ["aws-sims", "aws-popularity-count", "aws-trending-now", "aws-personalized-ranking"])
def test_other_recipes(personalize: Any, runtime: Any, trained: Any, recipe: str) -> None:
    _, found = train_solution(personalize, trained.group_arn, recipe)
    assert found["status"] == "ACTIVE", found
    campaign = personalize.create_campaign(name=unique("c"), solutionVersionArn=found["solutionVersionArn"])[
        "campaignArn"
    ]
    wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    if recipe == "aws-sims":
        out = runtime.get_recommendations(campaignArn=campaign, itemId="i3", numResults=10)
        assert "i3" not in [i["itemId"] for i in out["itemList"]]
        assert sum(int(i["itemId"][1:]) % 3 == 0 for i in out["itemList"]) >= 6
    elif recipe == "aws-personalized-ranking":
        out = runtime.get_personalized_ranking(campaignArn=campaign, userId="u1", inputList=["i1", "i2"])
        assert len(out["personalizedRanking"]) == 2
        with pytest.raises(ClientError) as exc:
            runtime.get_recommendations(campaignArn=campaign, userId="u1")
        assert code(exc) == "InvalidInputException"
    else:
        out = runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=10)
        assert len(out["itemList"]) == 10
    personalize.delete_campaign(campaignArn=campaign)
