"""The AWS stage against real stand-ins: moto in server mode (S3, SNS, SQS, STS, CloudWatch) and the
local Personalize engine, both on loopback ports, reached through unmodified boto3 clients."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infra.local.personalize import start_server
from shared.config import Settings
from shared.personalize.stage import StageDeps
from shared.wiring import stage_deps
from tests.conftest import TopicProbe
from tests.integration.engine.conftest import free_port

DAY = date(2026, 11, 28)


@dataclass
class AwsEnv:
    env: dict[str, str]
    moto_url: str
    engine: Any


@pytest.fixture(scope="package")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsEnv]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    engine = start_server("127.0.0.1", 0, tmp_path_factory.mktemp("personalize-state"))
    url = f"http://127.0.0.1:{port}"
    env = {
        **{f"AWS_ENDPOINT_URL_{s}": url for s in ("S3", "SNS", "SQS", "STS", "CLOUDWATCH", "EVENTBRIDGE")},
        "AWS_ENDPOINT_URL_PERSONALIZE": engine.url,
        "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": engine.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        try:
            yield AwsEnv(env, url, engine)
        finally:
            engine.stop()
            moto.stop()


class Probe(TopicProbe):
    """The shared SNS→SQS probe, plus ``drain``: everything published so far."""

    def drain(self) -> list[dict[str, Any]]:
        return self.messages(expect=10_000, timeout=2.0)


@dataclass
class Stage:
    settings: Settings
    deps: StageDeps
    probe: Probe
    s3: Any
    env: dict[str, str]
    clock: list[datetime]
    engine: Any

    def put_export(
        self, day: date = DAY, users: int = 60, per_user: int = 30, seed: int = 0, items: int = 90, run_suffix: str = ""
    ) -> str:
        """Write an export as shared.export would (CSV parts, then the manifest last); return the manifest key."""
        from shared.export.job import build_manifest
        from shared.export.window import Window
        from shared.manifest import ManifestDataset, ManifestFile, manifest_key, part_key
        from shared.schema import load_schema

        start = datetime.combine(day, datetime.min.time(), UTC)
        bucket = self.settings.import_bucket
        datasets = []
        for name, mode, rows in (
            ("interactions", "INCREMENTAL", interactions_rows(day, users, per_user, items, seed)),
            (
                "items",
                "FULL",
                [
                    [
                        f"story-{i}",
                        1_700_000_000 + i,
                        ("tech", "cloud", "fintech")[i % 3],
                        "ai",
                        "x",
                        "en",
                        f"summary {i}",
                    ]
                    for i in range(items)
                ],
            ),
            ("users", "FULL", [[f"user-{u}", "en", "br"] for u in range(users)]),
        ):
            header = load_schema(name).header  # type: ignore[arg-type]
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(r + [""] * (len(header) - len(r)) for r in rows)  # columns a row lacks are empty
            body = buf.getvalue().encode()
            key = part_key(self.settings.import_prefix, name, day, 0)
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            datasets.append(
                ManifestDataset(
                    name,
                    mode,
                    load_schema(name).version,  # type: ignore[arg-type]
                    tuple(header),  # type: ignore[arg-type]
                    (ManifestFile(key, len(rows), len(body), hashlib.sha256(body).hexdigest()),),
                    {},
                )
            )
        window = Window(start, start + timedelta(days=1))  # type: ignore[call-arg]
        manifest = build_manifest(f"export-{day:%Y%m%d}-{run_suffix or 'abc'}", day, "UTC", window, datasets)
        key = manifest_key(self.settings.import_prefix, day)
        self.s3.put_object(Bucket=bucket, Key=key, Body=manifest)
        return key


def interactions_rows(day: date, users: int, per_user: int, items: int, seed: int) -> list[list[Any]]:
    """Users who mostly read one category (seed >= 0), or click at random (seed < 0: noise)."""
    import random

    rng = random.Random(abs(seed))
    base = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
    rows = []
    for u in range(users):
        liked = [i for i in range(items) if i % 3 == u % 3]
        for k in range(per_user):
            item = rng.choice(liked) if seed >= 0 and rng.random() < 0.85 else rng.randrange(items)
            rows.append([f"user-{u}", f"story-{item}", base + u * 60 + k, rng.choice(["read", "like"]), "", "web"])
    return rows


@pytest.fixture
def stage(aws_env: AwsEnv) -> Stage:
    """Fresh bucket, topic and Personalize names; StageDeps over the real adapters; a settable clock."""
    from shared import wiring

    suffix = uuid.uuid4().hex[:8]
    env = {
        **aws_env.env,
        "STORYREC_GCP_PROJECT": "demo-test",
        "STORYREC_IMPORT_BUCKET": f"import-{suffix}",
        "STORYREC_PERSONALIZE_DATASET_GROUP": f"dsg-{suffix}",
        "STORYREC_PERSONALIZE_SOLUTION": f"sol-{suffix}",
        "STORYREC_PERSONALIZE_BASELINE_SOLUTION": f"pop-{suffix}",
        "STORYREC_PERSONALIZE_CAMPAIGN": f"feed-{suffix}",
        "STORYREC_PERSONALIZE_ROLE_ARN": "arn:aws:iam::000000000000:role/personalize",
    }
    bootstrap = Settings.from_env(env)
    sns, sqs = wiring.aws_client("sns", bootstrap), wiring.aws_client("sqs", bootstrap)
    topic = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env["STORYREC_SNS_TOPIC_ARN"] = topic
    settings = Settings.from_env(env)
    s3 = wiring.aws_client("s3", settings)
    s3.create_bucket(Bucket=settings.import_bucket)
    clock = [datetime.now(UTC)]
    deps = stage_deps(settings, clock=lambda: clock[0])
    deps = StageDeps(**{**deps.__dict__, "poll_interval": 0.1})
    return Stage(settings, deps, Probe(topic, queue, sqs), s3, env, clock, aws_env.engine)


def settle(stage: Stage, timeout: float = 120.0) -> None:
    """Wait until the dataset group has no pending import job (parked ones re-driven as the monitor would)."""
    from shared.personalize.imports import redrive_parked
    from shared.personalize.stage import ensure_datasets, pending_imports
    from shared.retry import wait_until

    def done() -> bool:
        redrive_parked(stage.deps)
        return not stage.deps.state.parked_imports() and pending_imports(stage.deps, ensure_datasets(stage.deps)) == 0

    wait_until(done, bool, timeout=timeout, interval=0.2, what="imports")


@pytest.fixture
def handlers(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The three handler modules, with the Lambda's environment set as serverless.yml sets it."""
    for key, value in {
        **stage.env,
        "POWERTOOLS_METRICS_NAMESPACE": "storyrec",
        "POWERTOOLS_SERVICE_NAME": "storyrec",
        "STORYREC_SNS_TOPIC_ARN": stage.probe.topic_arn,
    }.items():
        monkeypatch.setenv(key, value)
    from functions_aws import import_manifest, monitor, train
    from infra.local.lambda_events import LambdaContext, s3_object_created, scheduled_event

    class Handlers:
        def imports(self, key: str) -> dict[str, Any]:
            event = s3_object_created(stage.settings.import_bucket, key)
            return import_manifest.handler(event, LambdaContext("storyrec-import"))  # type: ignore[no-any-return]

        def train(self, time: str) -> dict[str, Any]:
            event = scheduled_event("storyrec-train", datetime.fromisoformat(time))
            return train.handler(event, LambdaContext("storyrec-train"))  # type: ignore[no-any-return]

        def monitor(self) -> dict[str, Any]:
            event = scheduled_event("storyrec-monitor", datetime(2026, 12, 1, 3, 15, tzinfo=UTC))
            return monitor.handler(event, LambdaContext("storyrec-monitor"))  # type: ignore[no-any-return]

    return Handlers()
