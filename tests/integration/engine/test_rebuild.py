"""``storyrec rebuild`` on the local engine: a dataset group with the v1 interactions schema is refused by
bootstrap, rebuilt from the backup's export history (schema 1.0 and 2.0 days) into a new group with no
interaction lost, and a rerun resumes without importing twice."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import boto3
import pytest

from shared.adapters.personalize import PersonalizeGateway
from shared.adapters.s3 import S3ObjectStore
from shared.config import Settings
from shared.manifest import Manifest, ManifestDataset, ManifestFile, manifest_key, part_key, serialize_manifest
from shared.operate.bootstrap import DEFAULT_CONFIG, Bootstrap, OutdatedInteractionsSchema, load_config, plan
from shared.operate.rebuild import Rebuild, RebuildRefused, run_rebuild
from shared.schema import load_schema
from tests.corpus.old_schemas import INTERACTIONS_V1_COLUMNS, INTERACTIONS_V1_SCHEMA
from tests.integration.engine.conftest import EngineEnv, unique

pytestmark = pytest.mark.integration

V1, V1_SCHEMA = INTERACTIONS_V1_COLUMNS, INTERACTIONS_V1_SCHEMA
FIRST = date(2026, 11, 1)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


def _export_day(store: S3ObjectStore, day: date, n: int, *, v2: bool) -> int:
    """One day of exports in the backup: interactions (schema 1.0 or 2.0), items and users snapshots."""
    base = int((day - date(1970, 1, 1)).total_seconds()) + 3600
    header = load_schema("interactions").header if v2 else V1
    rows = []
    for k in range(n):
        row = [f"u{k % 9}", f"s{k % 13}", str(base + k), "read", "", "web"]
        if v2:
            row += ["rid-1", "", "s1|s2"] if k % 2 else ["", "latest", ""]
        rows.append(row)
    datasets = []
    for dataset, head, body, mode, version in (
        ("interactions", header, rows, "INCREMENTAL", "2.0" if v2 else "1.0"),
        (
            "items",
            load_schema("items").header,
            [[f"s{i}", str(base), "news", "", "wire", "en", "x"] for i in range(13)],
            "FULL",
            load_schema("items").version,
        ),
        (
            "users",
            load_schema("users").header,
            [[f"u{i}", "en", "DE"] for i in range(9)],
            "FULL",
            load_schema("users").version,
        ),
    ):
        data = _csv(head, body)
        key = part_key("", dataset, day, 0)
        store.put_bytes(key, data)
        files = (ManifestFile(key, len(body), len(data), hashlib.sha256(data).hexdigest()),)
        datasets.append(ManifestDataset(dataset, mode, version, tuple(head), files))  # type: ignore[arg-type]
    manifest = Manifest(f"export-{day:%Y%m%d}", day, tuple(datasets))
    store.put_bytes(manifest_key("", day), serialize_manifest(manifest))
    return n


@pytest.fixture
def backup(engine_env: EngineEnv, s3: Any) -> S3ObjectStore:
    name = unique("backup")
    s3.create_bucket(Bucket=name)
    return S3ObjectStore(boto3.client("s3"), name)


@pytest.fixture
def staging(engine_env: EngineEnv, s3: Any) -> S3ObjectStore:
    name = unique("import")
    s3.create_bucket(Bucket=name)
    return S3ObjectStore(boto3.client("s3"), name)


@pytest.fixture
def port(personalize: Any, runtime: Any) -> PersonalizeGateway:
    return PersonalizeGateway(personalize, runtime)


def _old_group(personalize: Any, port: PersonalizeGateway) -> str:
    """A deployment made before schema 2.0: its interactions dataset has the v1 schema."""
    name = unique("old")
    group = port.ensure_dataset_group(name)
    schema = port.ensure_schema(unique("int-v1"), V1_SCHEMA)
    port.ensure_dataset(group, "interactions", schema, "storyrec-interactions")
    return name


def test_an_old_group_is_refused_then_rebuilt_from_the_backup_with_every_interaction(
    engine_env: EngineEnv, personalize: Any, port: PersonalizeGateway, backup: S3ObjectStore, staging: S3ObjectStore
) -> None:
    old = _old_group(personalize, port)
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_DATASET_GROUP": old})
    config = load_config(DEFAULT_CONFIG)
    boot = Bootstrap(port, type(config)(**{**vars(config), "dataset_group": old}), settings, poll_interval=0.0)
    with pytest.raises(OutdatedInteractionsSchema, match=r"storyrec rebuild --dataset-group old-\w+-v2"):
        plan(boot)

    total = sum(_export_day(backup, FIRST + timedelta(days=d), 40 + d, v2=d >= 2) for d in range(4))
    new = unique("new")
    job = Rebuild(port, backup, staging, new, settle_timeout=120, poll_interval=0.2)
    result = run_rebuild(job, current_group=old)
    assert result.manifests == 4 and result.interactions_in_manifests == total == result.rows("interactions")
    assert (result.rows("items"), result.rows("users")) == (13, 9)

    interactions = port.find_arn("dataset", "storyrec-interactions", result.group_arn)
    assert interactions is not None
    assert port.dataset_columns(interactions) == tuple(load_schema("interactions").header)
    frame = engine_env.engine.engine.store.frame(interactions)
    assert frame is not None and len(frame) == total  # no interaction lost on the way
    assert set(frame["IMPRESSION"].dropna()) == {"s1|s2"}  # the 2.0 days keep their columns

    again = run_rebuild(job, current_group=old)  # a rerun resumes: same jobs, nothing imported twice
    assert again.jobs == result.jobs
    assert len(personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]) == 1
    assert len(engine_env.engine.engine.store.frame(interactions)) == total


def test_a_part_that_differs_from_its_manifest_refuses_the_rebuild_before_creating_anything(
    engine_env: EngineEnv, port: PersonalizeGateway, backup: S3ObjectStore, staging: S3ObjectStore
) -> None:
    _export_day(backup, FIRST, 10, v2=False)
    key = part_key("", "interactions", FIRST, 0)
    backup.put_bytes(key, backup.get_bytes(key) + b"u1,s1,1790000000,read,,web\n")
    new = unique("new")
    with pytest.raises(RebuildRefused, match="SHA-256"):
        run_rebuild(Rebuild(port, backup, staging, new, settle_timeout=30, poll_interval=0.2))
    assert port.find_arn("dataset_group", new) is None


def test_the_group_in_use_and_an_empty_backup_are_refused(
    engine_env: EngineEnv, port: PersonalizeGateway, backup: S3ObjectStore, staging: S3ObjectStore
) -> None:
    from shared.errors import ConfigError

    with pytest.raises(ConfigError):
        run_rebuild(Rebuild(port, backup, staging, "storyrec"), current_group="storyrec")
    with pytest.raises(RebuildRefused, match="no export manifest"):
        run_rebuild(Rebuild(port, backup, staging, unique("new")))
