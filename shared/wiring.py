"""Composition root: builds real adapters from Settings. Called by handlers and the CLI, never at import.

Each stage's own composition sits beside it (``shared/<stage>/wiring.py``) and builds on these factories;
the AWS stage's is :func:`stage_deps` here, because the Personalize adapter imports that stage's model.

Every client honours the standard emulator switches (FIRESTORE_EMULATOR_HOST,
STORAGE_EMULATOR_HOST, AWS_ENDPOINT_URL_<SERVICE>), so local and production share these code paths.
The three adapters imported inside their factory say what importing them at the top would cost a cold
start (the fastest of 20 fresh processes, after ``shared.capture.wiring``).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.cloudwatch import CloudWatchMetrics
from shared.adapters.logging_sinks import LogNotifier
from shared.adapters.personalize import PersonalizeGateway
from shared.adapters.s3 import S3ObjectStore
from shared.adapters.sns import SnsNotifier
from shared.config import Settings
from shared.personalize.stage import StageDeps
from shared.ports import Clock, MetricsSink, Notifier

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient
    from google.cloud.storage import Client as StorageClient

    from shared.adapters.firestore import FirestoreDocumentStore
    from shared.adapters.gcs import GCSObjectStore


def utc_now() -> datetime:
    """The production clock (an aware UTC datetime); tests inject their own."""
    return datetime.now(UTC)


def _anonymous_if_emulated(emulator_host: str | None) -> Any:
    """Emulators accept any token, but the Google clients insist on credentials: give them anonymous ones."""
    if emulator_host:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    return None


def firestore_client(settings: Settings) -> FirestoreClient:
    """A Firestore client for the project (its streams read on the calling thread: ``firestore_client.Client``);
    anonymous credentials against the emulator."""
    from shared.adapters.firestore_client import Client  # cold-start: google-cloud-firestore, not on Lambda

    return Client(project=settings.gcp_project, credentials=_anonymous_if_emulated(settings.emulators.firestore_host))


def storage_client(settings: Settings) -> StorageClient:
    """A Cloud Storage client; anonymous credentials against the emulator."""
    from google.cloud import storage

    return storage.Client(
        project=settings.gcp_project, credentials=_anonymous_if_emulated(settings.emulators.storage_host)
    )


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client; boto3 itself reads AWS_ENDPOINT_URL_<SERVICE> for local stand-ins.

    With a role to assume (on GCP: the function family's, ``Settings.aws_stage.aws_role_arn``), credentials
    come from the function's Google identity
    (:mod:`shared.aws_identity`), shared and refreshed across the clients of the process.
    """
    import boto3
    from botocore.config import Config

    stage = settings.aws_stage
    factory: Any = boto3
    if stage.aws_role_arn:
        factory = _federated_session(
            stage.aws_role_arn, stage.aws_role_audience, stage.gce_metadata_host, settings.region
        )
    return factory.client(
        service,
        region_name=settings.region,
        config=Config(
            retries={"mode": "standard", "max_attempts": settings.timeouts.aws_attempts},
            connect_timeout=settings.timeouts.aws_connect,
            read_timeout=settings.timeouts.aws_read,
        ),
    )


@functools.cache
def _federated_session(role_arn: str, audience: str, metadata_host: str, region: str) -> Any:
    from shared.aws_identity import federated_session  # cold-start: +60 ms; capture never calls AWS

    return federated_session(role_arn, audience, metadata_host, region)


def document_store(settings: Settings) -> FirestoreDocumentStore:
    """Firestore behind the DocumentStore port."""
    from shared.adapters.firestore import FirestoreDocumentStore  # cold-start: +300 ms; google-cloud, not on Lambda

    return FirestoreDocumentStore(firestore_client(settings), timeout=settings.timeouts.firestore)


def import_store(settings: Settings) -> S3ObjectStore:
    """The S3 bucket Personalize imports from."""
    return S3ObjectStore(aws_client("s3", settings), settings.import_bucket)


def backup_store(settings: Settings) -> GCSObjectStore:
    """The GCS bucket that keeps a copy of every export."""
    from shared.adapters.gcs import GCSObjectStore  # cold-start: +160 ms; google-cloud, not on Lambda

    return GCSObjectStore(storage_client(settings), settings.backup_bucket, timeout=settings.timeouts.gcs)


def notifier(settings: Settings) -> Notifier:
    """SNS when a topic is configured; otherwise alerts go to the structured log."""
    if settings.sns_topic_arn:
        return SnsNotifier(aws_client("sns", settings), settings.sns_topic_arn)
    return LogNotifier()


def metrics(settings: Settings) -> MetricsSink:
    """CloudWatch metrics in the configured namespace."""
    return CloudWatchMetrics(aws_client("cloudwatch", settings), settings.metrics_namespace)


def personalize(settings: Settings) -> PersonalizeGateway:
    """Personalize control plane and runtime behind one gateway."""
    return PersonalizeGateway(aws_client("personalize", settings), aws_client("personalize-runtime", settings))


def stage_deps(settings: Settings, *, sink: MetricsSink | None = None, clock: Clock | None = None) -> StageDeps:
    """The AWS stage's adapters: Personalize, the import bucket (manifests and the stage's state), SNS, and
    ``sink`` for metrics (CloudWatch when None)."""
    return StageDeps(
        personalize=personalize(settings),
        bucket=import_store(settings),
        notifier=notifier(settings),
        metrics=sink if sink is not None else metrics(settings),
        clock=clock or utc_now,
        settings=settings,
    )
