"""Fixtures for the local Personalize engine: moto S3 + the engine in-process, real boto3 clients."""

from __future__ import annotations

import io
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape

from infra.local.personalize import ServerHandle, start_server

INTERACTIONS_SCHEMA = """{"type": "record", "name": "Interactions",
 "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["null", "float"]}], "version": "1.0"}"""
ITEMS_SCHEMA = """{"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "ITEM_ID", "type": "string"}, {"name": "CREATION_TIMESTAMP", "type": "long"},
            {"name": "CATEGORY", "type": ["null", "string"], "categorical": true}], "version": "1.0"}"""
RECIPE = "arn:aws:personalize:::recipe/"
TERMINAL = {"ACTIVE", "CREATE FAILED", "UPDATE FAILED", "DELETE FAILED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EngineEnv:
    """URLs of the running moto and engine servers."""

    s3_url: str
    engine: ServerHandle


@pytest.fixture(scope="package")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineEnv]:
    """moto S3 and the engine on free loopback ports, with the AWS env pointing at them.

    Package-scoped: the environment is restored as soon as the engine tests are done, so the shared
    local-stack fixture of other test packages never sees these endpoints.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    handle = start_server("127.0.0.1", 0, tmp_path_factory.mktemp("personalize-state"))
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_ENDPOINT_URL_PERSONALIZE": handle.url,
        "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": handle.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        try:
            yield EngineEnv(env["AWS_ENDPOINT_URL_S3"], handle)
        finally:
            handle.stop()
            moto.stop()


@pytest.fixture(scope="package")
def personalize(engine_env: EngineEnv) -> Any:
    return boto3.client("personalize")


@pytest.fixture(scope="package")
def runtime(engine_env: EngineEnv) -> Any:
    return boto3.client("personalize-runtime")


@pytest.fixture(scope="package")
def s3(engine_env: EngineEnv) -> Any:
    return boto3.client("s3")


@pytest.fixture(scope="package")
def bucket(s3: Any) -> str:
    name = f"engine-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_interactions(n_users: int = 60, n_items: int = 150, per_user: int = 30, seed: int = 0) -> pd.DataFrame:
    """Users with a favourite category who mostly read items of it, in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        fav = u % 3
        pool = [i for i in range(n_items) if i % 3 == fav]
        for k in range(per_user):
            item = int(rng.choice(pool)) if rng.random() < 0.8 else int(rng.integers(n_items))
            event = "read" if rng.random() < 0.8 else "like"
            rows.append((f"u{u}", f"i{item}", 1_700_000_000 + u * 1000 + k * 60, event, None))
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])


def make_items(n_items: int = 150) -> pd.DataFrame:
    cats = ["tech", "sport", "politics"]
    return pd.DataFrame(
        {
            "ITEM_ID": [f"i{i}" for i in range(n_items)],
            "CREATION_TIMESTAMP": [1_699_000_000 + i for i in range(n_items)],
            "CATEGORY": [cats[i % 3] for i in range(n_items)],
        }
    )


def put_csv(s3: Any, bucket: str, key: str, df: pd.DataFrame | str) -> str:
    body = df if isinstance(df, str) else df.to_csv(index=False)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return f"s3://{bucket}/{key}"


def wait_for(describe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll a Describe call until its status is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        found = describe()
        if found.get("status") in TERMINAL or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def check_shape(shape: Shape | None, value: Any, path: str = "$") -> list[str]:
    """Differences between a parsed response and a botocore output shape (unknown keys, wrong types)."""
    if shape is None:
        return []
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{path}: expected object"]
        errors = [f"{path}: missing required {k}" for k in shape.required_members if k not in value]
        for key, item in value.items():
            if key == "ResponseMetadata" and path == "$":
                continue
            if key not in shape.members:
                errors.append(f"{path}: unexpected key {key}")
            else:
                errors += check_shape(shape.members[key], item, f"{path}.{key}")
        return errors
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        return [e for i, v in enumerate(value) for e in check_shape(shape.member, v, f"{path}[{i}]")]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
        return [e for k, v in value.items() for e in check_shape(shape.value, v, f"{path}[{k}]")]
    return _check_scalar(kind, value, path, shape)


def _check_scalar(kind: str, value: Any, path: str, shape: Shape) -> list[str]:
    import datetime

    expected: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "long": (int,),
        "boolean": (bool,),
        "double": (float, int),
        "float": (float, int),
        "timestamp": (datetime.datetime,),
    }
    types = expected.get(kind)
    if types and not isinstance(value, types):
        return [f"{path}: {value!r} is not {kind}"]
    enum = shape.metadata.get("enum") if kind == "string" else None
    if enum and value not in enum:
        return [f"{path}: {value!r} not in enum"]
    return []


@pytest.fixture(scope="package")
def assert_shape() -> Callable[[Any, str, dict[str, Any]], None]:
    """``assert_shape(client, "DescribeSchema", response)`` fails on any mismatch with botocore's model."""

    def check(client: Any, operation: str, response: dict[str, Any]) -> None:
        shape = client.meta.service_model.operation_model(operation).output_shape
        errors = check_shape(shape, response)
        assert not errors, errors

    return check


@dataclass
class Trained:
    """A dataset group with data, a trained user-personalization version and an ACTIVE campaign."""

    group_arn: str
    interactions_arn: str
    items_arn: str
    solution_arn: str
    version_arn: str
    campaign_arn: str


def import_and_wait(personalize: Any, dataset_arn: str, location: str, mode: str = "FULL") -> Any:
    job = personalize.create_dataset_import_job(
        jobName=unique("job"),
        datasetArn=dataset_arn,
        dataSource={"dataLocation": location},
        roleArn="arn:aws:iam::000000000000:role/p",
        importMode=mode,
    )["datasetImportJobArn"]
    return wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])


def new_group(personalize: Any) -> tuple[str, str, str]:
    """A dataset group with an Interactions and an Items dataset; returns their ARNs."""
    group = personalize.create_dataset_group(name=unique("dsg"))["datasetGroupArn"]
    ischema = personalize.create_schema(name=unique("int"), schema=INTERACTIONS_SCHEMA)["schemaArn"]
    tschema = personalize.create_schema(name=unique("itm"), schema=ITEMS_SCHEMA)["schemaArn"]
    interactions = personalize.create_dataset(
        name=unique("interactions"), schemaArn=ischema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    items = personalize.create_dataset(
        name=unique("items"), schemaArn=tschema, datasetGroupArn=group, datasetType="Items"
    )["datasetArn"]
    return group, interactions, items


def train_solution(personalize: Any, group: str, recipe: str, **solution: Any) -> tuple[str, dict[str, Any]]:
    """Create a solution and one version; wait for training; return its ARN and the version's description."""
    arn = personalize.create_solution(name=unique("sol"), datasetGroupArn=group, recipeArn=RECIPE + recipe, **solution)[
        "solutionArn"
    ]
    version = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    # A whole catalogue's training (Deskdrop: ~73k rows) takes well over a minute on a busy 2-core machine; the
    # wait returns as soon as the version is terminal, so the longer bound only matters for a real hang.
    return arn, wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"], timeout=300
    )


@pytest.fixture(scope="package")
def trained(personalize: Any, s3: Any, bucket: str) -> Trained:
    group, interactions, items = new_group(personalize)
    assert (
        import_and_wait(personalize, interactions, put_csv(s3, bucket, "t/i.csv", make_interactions()))["status"]
        == "ACTIVE"
    )
    assert import_and_wait(personalize, items, put_csv(s3, bucket, "t/items.csv", make_items()))["status"] == "ACTIVE"
    solution, status = train_solution(
        personalize,
        group,
        "aws-user-personalization",
        performAutoTraining=False,
        solutionConfig={
            "eventsConfig": {
                "eventParametersList": [
                    {"eventType": "read", "weight": 0.5},
                    {"eventType": "like", "weight": 1.0},
                ]
            }
        },
    )
    assert status["status"] == "ACTIVE", status
    version = status["solutionVersionArn"]
    campaign = personalize.create_campaign(name=unique("camp"), solutionVersionArn=version, minProvisionedTPS=1)[
        "campaignArn"
    ]
    assert wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])["status"] == "ACTIVE"
    return Trained(group, interactions, items, solution, version, campaign)


def csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue()


REPO_ROOT = Path(__file__).resolve().parents[3]
DESKDROP = REPO_ROOT.parent / "shared" / "data" / "deskdrop"
