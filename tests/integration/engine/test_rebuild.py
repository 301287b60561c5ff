"""``storyrec rebuild`` on the local engine: a dataset group with the v1 interactions schema is refused by
bootstrap, rebuilt from the backup's export history (schema 1.0 and 2.0 days) into a new group with no
interaction lost, and a rerun resumes without importing twice."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics, RecordingNotifier
from shared.adapters.personalize import PersonalizeGateway
from shared.adapters.s3 import S3ObjectStore
from shared.config import Settings
from shared.errors import ConfigError
from shared.manifest import Manifest, ManifestDataset, ManifestFile, manifest_key, part_key, serialize_manifest
from shared.operate.bootstrap import DEFAULT_CONFIG, Bootstrap, OutdatedInteractionsSchema, load_config, plan
from shared.operate.rebuild import Rebuild, RebuildRefused, run_rebuild
from shared.operate.recommend import recommend_for
from shared.operate.switch import Names, finish_switch, new_names, newest_served, prepare_switch, switched_settings
from shared.personalize.stage import StageDeps
from shared.recommend import FeedDeps, fill_feeds
from shared.schema import load_schema
from tests.corpus.old_schemas import INTERACTIONS_V1_COLUMNS, INTERACTIONS_V1_SCHEMA
from tests.integration.engine.conftest import EngineEnv, import_and_wait, make_interactions, unique, wait_for

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
    with pytest.raises(ConfigError):
        run_rebuild(Rebuild(port, backup, staging, "storyrec"), current_group="storyrec")
    with pytest.raises(RebuildRefused, match="no export manifest"):
        run_rebuild(Rebuild(port, backup, staging, unique("new")))


# --- the switch: the new group's campaign, checked, then served (docs/deploy.md §2.3) -----------------------

NOW = datetime(2026, 11, 8, 5, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())


def _history_day(store: S3ObjectStore, day: date, rows: list[list[str]], n_items: int, *, v2: bool) -> int:
    """One export day of ``rows`` (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE) with the items and users snapshots."""
    header = load_schema("interactions").header if v2 else V1
    body = [[u, i, t, e, "", "web", *(["rid-1", "", ""] if v2 else [])] for u, i, t, e in rows]
    users = sorted({r[0] for r in rows} | {f"u{k}" for k in range(60)})
    datasets = []
    for dataset, head, lines, mode, version in (
        ("interactions", header, body, "INCREMENTAL", "2.0" if v2 else "1.0"),
        (
            "items",
            load_schema("items").header,
            [
                [f"i{k}", str(NOW_TS - 86400), ("tech", "sport", "politics")[k % 3], "", "wire", "en", ""]
                for k in range(n_items)
            ],
            "FULL",
            load_schema("items").version,
        ),
        ("users", load_schema("users").header, [[u, "en", "DE"] for u in users], "FULL", load_schema("users").version),
    ):
        data = _csv(head, lines)
        key = part_key("", dataset, day, 0)
        store.put_bytes(key, data)
        files = (ManifestFile(key, len(lines), len(data), hashlib.sha256(data).hexdigest()),)
        datasets.append(ManifestDataset(dataset, mode, version, tuple(head), files))  # type: ignore[arg-type]
    store.put_bytes(manifest_key("", day), serialize_manifest(Manifest(f"export-{day:%Y%m%d}", day, tuple(datasets))))
    return len(rows)


def _feeds_docs() -> InMemoryDocumentStore:
    """The app's Firestore: every story recent and published, ten readers active yesterday."""
    docs = InMemoryDocumentStore()
    for k in range(90):
        docs.set(f"stories/i{k}", {"title": f"Story {k}", "url": f"https://x/{k}", "status": "published"})
        docs.set(f"ml_items/i{k}", {"ITEM_ID": f"i{k}", "CREATION_TIMESTAMP": NOW_TS - 86400, "active": True})
    for u in range(10):
        ts = NOW_TS - 86400 + u
        docs.set(
            f"ml_interactions/u{u}-i{u}",
            {"USER_ID": f"u{u}", "ITEM_ID": f"i{u}", "TIMESTAMP": ts, "EVENT_TYPE": "read"},
        )
    return docs


def _fill(port: PersonalizeGateway, docs: InMemoryDocumentStore, settings: Settings, hours: float) -> Any:
    """The daily fill of functions deployed with ``settings``, ``hours`` after NOW."""
    deps = FeedDeps(
        docs=docs,
        recommender=port,
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: NOW + timedelta(hours=hours),
        collections=settings.collections,
        personalize=settings.personalize,
        config=settings.recommend,
        sleep=lambda _: None,
    )
    return fill_feeds(deps), deps


def _serving_old_group(personalize: Any, port: PersonalizeGateway, staging: S3ObjectStore, frame: Any) -> Settings:
    """A deployment made before schema 2.0 that serves: v1 interactions, a trained version, an ACTIVE campaign."""
    names = {k: unique(k) for k in ("old", "sol", "base", "filt", "camp")}
    group = port.ensure_dataset_group(names["old"])
    schema = port.ensure_schema(unique("int-v1"), V1_SCHEMA)
    interactions = port.ensure_dataset(group, "interactions", schema, "storyrec-interactions")
    items = port.ensure_dataset(
        group, "items", port.ensure_schema(unique("items"), load_schema("items").as_json()), "storyrec-items"
    )
    staging.put_bytes(
        "old/i.csv", frame[["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]].to_csv(index=False).encode()
    )
    item_rows = [
        [f"i{k}", str(NOW_TS - 86400), ("tech", "sport", "politics")[k % 3], "", "wire", "en", ""] for k in range(90)
    ]
    staging.put_bytes("old/items.csv", _csv(load_schema("items").header, item_rows))
    for dataset, key in ((interactions, "old/i.csv"), (items, "old/items.csv")):
        assert import_and_wait(personalize, dataset, f"s3://{staging.bucket}/{key}")["status"] == "ACTIVE"
    solution = personalize.create_solution(
        name=names["sol"], datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
    )["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert (
        wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"], 300)[
            "status"
        ]
        == "ACTIVE"
    )
    campaign = personalize.create_campaign(name=names["camp"], solutionVersionArn=version, minProvisionedTPS=1)[
        "campaignArn"
    ]
    assert wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])["status"] == "ACTIVE"
    return Settings.from_env(
        {
            "STORYREC_GCP_PROJECT": "p",
            "STORYREC_IMPORT_BUCKET": staging.bucket,
            "STORYREC_PERSONALIZE_DATASET_GROUP": names["old"],
            "STORYREC_PERSONALIZE_SOLUTION": names["sol"],
            "STORYREC_PERSONALIZE_BASELINE_SOLUTION": names["base"],
            "STORYREC_PERSONALIZE_FILTER": names["filt"],
            "STORYREC_PERSONALIZE_CAMPAIGN": names["camp"],
            "STORYREC_FEED_ACTIVE_DAYS": "3",
        }
    )


def _stage_deps(port: PersonalizeGateway, staging: S3ObjectStore, settings: Settings) -> StageDeps:
    return StageDeps(port, staging, RecordingNotifier(), RecordingMetrics(), lambda: NOW, settings, 120.0, 0.2)


def _versions(personalize: Any, solution_arn: str) -> int:
    return len(personalize.list_solution_versions(solutionArn=solution_arn)["solutionVersions"])


def test_the_rebuild_switches_to_the_new_campaign_without_downtime_and_a_rerun_changes_nothing(
    engine_env: EngineEnv, personalize: Any, port: PersonalizeGateway, backup: S3ObjectStore, staging: S3ObjectStore
) -> None:
    frame = make_interactions(n_users=60, n_items=90, per_user=30, seed=3)
    rows = frame[["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]].astype(str).values.tolist()
    days = [rows[k::4] for k in range(4)]
    total = sum(_history_day(backup, FIRST + timedelta(days=d), days[d], 90, v2=d >= 2) for d in range(4))
    old = _serving_old_group(personalize, port, staging, frame)
    old_campaign = port.find_arn("campaign", old.personalize.campaign)
    docs = _feeds_docs()
    summary, _ = _fill(port, docs, old, 0)
    old_version = summary.solution_version_arn
    assert summary.personalized == 10 and old_version

    config = load_config(DEFAULT_CONFIG)
    config = replace(
        config,
        dataset_group=old.personalize.dataset_group,
        serving=replace(config.serving, name=old.personalize.solution),
        baseline=replace(config.baseline, name=old.aws_stage.baseline_solution),
        campaign=old.personalize.campaign,
    )
    new = unique("new")
    job = Rebuild(port, backup, staging, new, settle_timeout=300, poll_interval=0.2)
    old_deps = _stage_deps(port, staging, old)
    result = run_rebuild(job, current_group=old.personalize.dataset_group)
    prepared = prepare_switch(job, old_deps, config, result=result)

    # the old campaign was never touched and still serves; the new one is ACTIVE with a checked version
    assert port.describe_campaign(old_campaign).status.value == "ACTIVE"  # type: ignore[arg-type]
    assert _fill(port, docs, old, 1)[0].solution_version_arn == old_version
    assert prepared.old_campaign_arn == old_campaign and prepared.decision.action == "promote"
    assert port.describe_campaign(prepared.campaign_arn).solution_version_arn == prepared.version_arn
    assert prepared.new.dataset_group == new and prepared.new.campaign == f"{old.personalize.campaign}-{new}"
    assert len(old_deps.notifier.sent) == 1  # type: ignore[attr-defined]  # one report of the new version's decision
    new_settings = switched_settings(old, prepared.new)
    assert Settings.from_env({**_env(old), **prepared.new.env()}) == new_settings  # the written env is exact

    # functions not redeployed yet: the finish refuses in one line and keeps the old campaign
    new_deps = _stage_deps(port, staging, new_settings)
    with pytest.raises(RebuildRefused, match="do not serve from the new campaign yet"):
        finish_switch(job, new_deps, newest_served(docs, new_settings.collections))
    with pytest.raises(ConfigError, match="settings in use do not name"):
        finish_switch(job, old_deps, newest_served(docs, old.collections))

    # a destroyed intermediate state: the new campaign deleted before the switch is named, and a rerun recreates it
    personalize.delete_campaign(campaignArn=prepared.campaign_arn)
    with pytest.raises(RebuildRefused, match=r"does not exist: rerun `storyrec rebuild --dataset-group"):
        finish_switch(job, new_deps, newest_served(docs, new_settings.collections))
    rerun = run_rebuild(job, current_group=old.personalize.dataset_group)
    recreated = prepare_switch(job, old_deps, config, result=rerun)
    assert recreated.campaign_arn == prepared.campaign_arn and recreated.version_arn == prepared.version_arn
    assert port.describe_campaign(prepared.campaign_arn).status.value == "ACTIVE"
    assert len(old_deps.notifier.sent) == 1  # type: ignore[attr-defined]  # not reported twice

    # a day exported before the redeploy still reaches the new group (the finish imports it)
    late = [[f"u{k}", f"i{k}", str(1_700_100_000 + k), "read"] for k in range(30)]
    total += _history_day(backup, FIRST + timedelta(days=4), late, 90, v2=True)

    # redeployed with the written settings: feeds come from the new group's campaign
    summary, feed_deps = _fill(port, docs, new_settings, 2)
    assert summary.personalized == 10 and summary.solution_version_arn == prepared.version_arn
    answer = recommend_for(feed_deps, "u1")
    assert answer.campaign_arn == prepared.campaign_arn and answer.recommended
    done = finish_switch(job, new_deps, newest_served(docs, new_settings.collections))
    assert done.retired == old_campaign and done.version_arn == prepared.version_arn
    assert port.find_arn("campaign", old.personalize.campaign) is None
    interactions = port.find_arn("dataset", "storyrec-interactions", result.group_arn)
    assert interactions is not None
    assert len(engine_env.engine.engine.store.frame(interactions)) == total  # no interaction lost

    # reruns change nothing: no import, no training, no report, the same campaign
    jobs = len(personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"])
    solution = port.find_arn("solution", prepared.new.solution)
    assert solution is not None and _versions(personalize, solution) == 1
    again = finish_switch(job, new_deps, newest_served(docs, new_settings.collections))
    assert again.retired is None and again.campaign_arn == done.campaign_arn
    redo = prepare_switch(job, old_deps, config, result=run_rebuild(job, current_group=old.personalize.dataset_group))
    assert (redo.campaign_arn, redo.version_arn, redo.prepared_at) == (
        prepared.campaign_arn,
        prepared.version_arn,
        prepared.prepared_at,
    )
    assert len(personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]) == jobs
    assert _versions(personalize, solution) == 1 and len(old_deps.notifier.sent) == 1  # type: ignore[attr-defined]
    with pytest.raises(RebuildRefused, match="--finish"):
        prepare_switch(job, new_deps, config)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "STORYREC_GCP_PROJECT": settings.gcp_project,
        "STORYREC_IMPORT_BUCKET": settings.import_bucket,
        "STORYREC_PERSONALIZE_DATASET_GROUP": settings.personalize.dataset_group,
        "STORYREC_PERSONALIZE_SOLUTION": settings.personalize.solution,
        "STORYREC_PERSONALIZE_BASELINE_SOLUTION": settings.aws_stage.baseline_solution,
        "STORYREC_PERSONALIZE_FILTER": settings.personalize.filter,
        "STORYREC_PERSONALIZE_CAMPAIGN": settings.personalize.campaign,
        "STORYREC_FEED_ACTIVE_DAYS": str(settings.recommend.active_days),
    }


def test_a_failed_training_refuses_the_switch_in_one_line_and_a_rerun_trains_afresh(
    engine_env: EngineEnv, personalize: Any, port: PersonalizeGateway, backup: S3ObjectStore, staging: S3ObjectStore
) -> None:
    for d in range(3):  # too few interactions for Personalize: the training fails
        _export_day(backup, FIRST + timedelta(days=d), 40, v2=True)
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_FILTER": unique("f")})
    settings = switched_settings(settings, replace(Names.of(settings), dataset_group=unique("cur")))
    new = unique("new")
    job = Rebuild(port, backup, staging, new, settle_timeout=120, poll_interval=0.2)
    deps = _stage_deps(port, staging, settings)
    config = replace(load_config(DEFAULT_CONFIG), dataset_group=settings.personalize.dataset_group)
    run_rebuild(job, current_group=settings.personalize.dataset_group)
    for attempt in (1, 2):
        refused = r"failed \(.*Insufficient data.*rerun the same command to train again"
        with pytest.raises(RebuildRefused, match=refused):
            prepare_switch(job, deps, config)
        solution = port.find_arn("solution", new_names(settings, new).solution)
        assert solution is not None and _versions(personalize, solution) == attempt  # rebuild-1, then rebuild-2
    assert port.find_arn("campaign", new_names(settings, new).campaign) is None  # nothing switched
    assert deps.bucket.head(f"{settings.aws_stage.state_prefix}rebuild/{new}.json") is None
