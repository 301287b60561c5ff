"""Recommend integration fixtures: the local stack (Firestore emulator, moto, the Personalize engine),
a user-personalization campaign trained on a Deskdrop subset, and the matching Firestore documents."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared import wiring
from shared.config import Settings
from shared.ports import Write
from tests.conftest import StackHandle, reset_firestore

SUBSET = 6000
"""The newest Deskdrop interactions kept: enough to train (≥1,000), small enough for CI."""
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "CREATION_TIMESTAMP", "type": "long"}],
    "version": "1.0",
}


@dataclass
class Deskdrop:
    """The subset that was imported and trained, and the settings that name its campaign."""

    settings: Settings
    env: dict[str, str]
    """The environment ``settings`` was read from (what a deployed function would see)."""
    interactions: pd.DataFrame
    items: pd.DataFrame
    now: datetime
    campaign_arn: str
    solution_version_arn: str


def _wait(describe: Any, key: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = describe()[key]
        if found["status"] in ("ACTIVE", "CREATE FAILED") or time.monotonic() > deadline:
            assert found["status"] == "ACTIVE", found
            return dict(found)
        time.sleep(0.2)


def _subset(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from benchmarks.bench_quality import load_deskdrop

    interactions, items = load_deskdrop(directory)
    interactions = interactions.sort_values("TIMESTAMP").tail(SUBSET).reset_index(drop=True)
    return interactions, items[["ITEM_ID", "CREATION_TIMESTAMP"]].drop_duplicates("ITEM_ID")


@pytest.fixture(scope="module")
def deskdrop(stack: StackHandle, deskdrop_dir: Path) -> Deskdrop:
    """Import the subset into the engine, train user-personalization, deploy a campaign (once per module)."""

    if "AWS_ENDPOINT_URL_PERSONALIZE" not in stack.env:
        pytest.fail("the local Personalize engine is not running (pip install -e '.[engine]')", pytrace=False)
    suffix = uuid.uuid4().hex[:8]
    env = dict(
        {
            **stack.env,
            "STORYREC_IMPORT_BUCKET": f"feeds-{suffix}",
            "STORYREC_PERSONALIZE_DATASET_GROUP": f"feeds-{suffix}",
            "STORYREC_PERSONALIZE_SOLUTION": f"feeds-{suffix}",
            "STORYREC_PERSONALIZE_CAMPAIGN": f"feeds-{suffix}",
            "STORYREC_PERSONALIZE_FILTER": f"feeds-{suffix}",
            "STORYREC_PERSONALIZE_NUM_RESULTS": "10",
            "STORYREC_FEED_ACTIVE_DAYS": "14",
            "STORYREC_FEED_MAX_STORY_AGE_DAYS": "3650",
            "STORYREC_FEED_BACKOFF_SECONDS": "0.05",
            "STORYREC_FEED_BATCH_ROLE_ARN": "arn:aws:iam::000000000000:role/personalize",
        }
    )
    # boto3 reads the endpoints from the process environment: make it this stack's while training, even
    # when another package's fixture (tests/integration/aws's aws_env) points it at its own moto and engine
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return _train(env, deskdrop_dir, suffix)


def _train(env: dict[str, str], deskdrop_dir: Path, suffix: str) -> Deskdrop:
    settings = Settings.from_env(env)
    interactions, items = _subset(deskdrop_dir)
    control, s3 = wiring.aws_client("personalize", settings), wiring.aws_client("s3", settings)
    s3.create_bucket(Bucket=settings.import_bucket)
    group = control.create_dataset_group(name=settings.personalize.dataset_group)["datasetGroupArn"]
    for kind, schema, frame in (("Interactions", INTERACTIONS_SCHEMA, interactions), ("Items", ITEMS_SCHEMA, items)):
        schema_arn = control.create_schema(name=f"{kind.lower()}-{suffix}", schema=json.dumps(schema))["schemaArn"]
        dataset = control.create_dataset(
            name=f"{kind.lower()}-{suffix}", schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        key = f"train/{kind.lower()}.csv"
        s3.put_object(Bucket=settings.import_bucket, Key=key, Body=frame.to_csv(index=False).encode())
        job = control.create_dataset_import_job(
            jobName=f"{kind.lower()}-{suffix}",
            datasetArn=dataset,
            importMode="FULL",
            dataSource={"dataLocation": f"s3://{settings.import_bucket}/{key}"},
            roleArn="arn:aws:iam::000000000000:role/personalize",
        )["datasetImportJobArn"]
        _wait(lambda j=job: control.describe_dataset_import_job(datasetImportJobArn=j), "datasetImportJob")
    solution = control.create_solution(
        name=settings.personalize.solution,
        datasetGroupArn=group,
        recipeArn=settings.personalize.recipe_arn,
        performAutoTraining=False,
    )["solutionArn"]
    version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    _wait(lambda: control.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    campaign = control.create_campaign(
        name=settings.personalize.campaign, solutionVersionArn=version, minProvisionedTPS=1
    )["campaignArn"]
    _wait(lambda: control.describe_campaign(campaignArn=campaign), "campaign")
    now = datetime.fromtimestamp(int(interactions["TIMESTAMP"].max()) + 3600, UTC)
    return Deskdrop(settings, env, interactions, items, now, campaign, version)


@pytest.fixture
def seeded(stack: StackHandle, deskdrop: Deskdrop) -> Any:
    """A fresh Firestore holding the subset's stories, ml_items and ml_interactions; returns the store."""

    reset_firestore(stack.firestore_host, stack.project)
    docs = wiring.document_store(deskdrop.settings)
    writes = []
    for row in deskdrop.items.itertuples(index=False):
        sid = str(row.ITEM_ID)
        writes.append(
            Write(
                f"stories/{sid}",
                data={
                    "title": f"Story {sid}",
                    "url": f"https://deskdrop/{sid}",
                    "image": None,
                    "source": "deskdrop",
                    "status": "published",
                },
            )
        )
        writes.append(
            Write(
                f"ml_items/{sid}",
                data={"ITEM_ID": sid, "CREATION_TIMESTAMP": int(row.CREATION_TIMESTAMP), "active": True},
            )
        )
    for i, row in enumerate(deskdrop.interactions.itertuples(index=False)):
        writes.append(
            Write(
                f"ml_interactions/c{i:06d}",
                data={
                    "USER_ID": str(row.USER_ID),
                    "ITEM_ID": str(row.ITEM_ID),
                    "TIMESTAMP": int(row.TIMESTAMP),
                    "EVENT_TYPE": str(row.EVENT_TYPE),
                },
            )
        )
    docs.write_batch(writes)
    return docs
