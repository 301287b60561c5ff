"""Smoke: the trained fixture works end to end."""

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_recommend(trained: Any, runtime: Any, assert_shape: Any) -> None:
    out = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u1", numResults=10)
    assert_shape(runtime, "GetRecommendations", out)
    assert len(out["itemList"]) == 10
