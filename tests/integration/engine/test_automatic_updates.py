"""Personalize's automatic updates through real boto3 clients: a story imported after training is recommended
by the user-personalization campaign once two hours of the engine's clock have passed, under the same
solution version, and never by a SIMS campaign (infra/local/personalize/autoupdate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from infra.local.personalize import clock, start_server
from tests.integration.engine.conftest import (
    EngineEnv,
    import_and_wait,
    make_interactions,
    make_items,
    new_group,
    put_csv,
    train_solution,
    unique,
    wait_for,
)

pytestmark = pytest.mark.integration

TRAINED_AT = 1_800_000_000.0  # the engine's clock (its clock file) while the versions train
HOUR = 3600.0


@pytest.fixture
def engine(engine_env: EngineEnv, tmp_path: Path) -> Iterator[tuple[Any, Any, Path]]:
    """An engine of its own (its clock file moves), beside the package's moto S3."""
    handle = start_server("127.0.0.1", 0, tmp_path / "state")
    try:
        yield (
            boto3.client("personalize", endpoint_url=handle.url),
            boto3.client("personalize-runtime", endpoint_url=handle.url),
            tmp_path / "state",
        )
    finally:
        handle.stop()


def test_a_story_imported_after_training_joins_the_campaign_after_two_hours(
    engine: tuple[Any, Any, Path], s3: Any, bucket: str
) -> None:
    personalize, runtime, state = engine
    clock.set_now(state, TRAINED_AT)
    group, interactions, items = new_group(personalize)
    key = unique("auto")
    assert (
        import_and_wait(personalize, interactions, put_csv(s3, bucket, f"{key}/i.csv", make_interactions()))["status"]
        == "ACTIVE"
    )
    assert (
        import_and_wait(personalize, items, put_csv(s3, bucket, f"{key}/items.csv", make_items()))["status"] == "ACTIVE"
    )
    _, version = train_solution(personalize, group, "aws-user-personalization", performAutoTraining=False)
    _, sims = train_solution(personalize, group, "aws-sims", performAutoTraining=False)
    assert version["status"] == sims["status"] == "ACTIVE"
    campaigns = {}
    for name, trained in (("up", version), ("sims", sims)):
        arn = personalize.create_campaign(
            name=unique(name), solutionVersionArn=trained["solutionVersionArn"], minProvisionedTPS=1
        )["campaignArn"]
        assert wait_for(lambda a=arn: personalize.describe_campaign(campaignArn=a)["campaign"])["status"] == "ACTIVE"
        campaigns[name] = arn

    clock.set_now(state, TRAINED_AT + 0.5 * HOUR)
    story = pd.DataFrame({"ITEM_ID": ["fresh-tech"], "CREATION_TIMESTAMP": [1_700_100_000], "CATEGORY": ["tech"]})
    location = put_csv(s3, bucket, f"{key}/new-items.csv", story)
    assert import_and_wait(personalize, items, location, mode="INCREMENTAL")["status"] == "ACTIVE"

    def up_items() -> list[str]:
        out = runtime.get_recommendations(campaignArn=campaigns["up"], userId="u0", numResults=150)
        return [i["itemId"] for i in out["itemList"]]

    clock.set_now(state, TRAINED_AT + 1.9 * HOUR)
    assert "fresh-tech" not in up_items()
    clock.set_now(state, TRAINED_AT + 2.1 * HOUR)
    assert "fresh-tech" in up_items()  # u0 reads tech: the new tech story is among their 150
    described = personalize.describe_campaign(campaignArn=campaigns["up"])["campaign"]
    assert described["solutionVersionArn"] == version["solutionVersionArn"]  # same version, updated

    clock.set_now(state, TRAINED_AT + 10 * HOUR)
    related = runtime.get_recommendations(campaignArn=campaigns["sims"], itemId="i0", numResults=150)
    assert "fresh-tech" not in [i["itemId"] for i in related["itemList"]]
