"""Shared fixtures: one local stack per test session, fresh state per test.

The stack is started in a private state directory so a developer's own ``storyrec-dev stack up``
is never touched. In CI (CI=true) a service that cannot start fails the session loudly;
nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DESKDROP = Path(os.environ.get("STORYREC_DESKDROP_DIR") or REPO_ROOT.parent / "shared" / "data" / "deskdrop")
"""The team's Deskdrop copy beside the repository, or where STORYREC_DESKDROP_DIR says (tests only)."""


def deskdrop_or_generated(tmp: Path) -> Path:
    """Deskdrop when it is there; else generated traffic in its file format (infra/local/traffic/deskdrop_format.py)
    written under ``tmp``, so a clone without the team's data skips nothing."""
    if (DESKDROP / "users_interactions.csv").is_file() and (DESKDROP / "articles.csv").is_file():
        return DESKDROP
    from infra.local.traffic.deskdrop_format import write_deskdrop_like

    return write_deskdrop_like(tmp)


@dataclass
class StackHandle:
    """The running stack as tests see it."""

    env: dict[str, str]
    state_dir: Path

    @property
    def firestore_host(self) -> str:
        return self.env["FIRESTORE_EMULATOR_HOST"]

    @property
    def project(self) -> str:
        return self.env["GOOGLE_CLOUD_PROJECT"]


_SESSION_ENV: dict[str, str] = {}
"""Variables the session's stack exported: kept when a test's environment is restored (the stack may have
started inside the first test that needed it, after that test's environment was saved)."""


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """No test leaks environment variables into the next (the demo exports its own stack's, for one)."""
    for key, value in _SESSION_ENV.items():  # lost if a package fixture that predates the stack undid them
        os.environ.setdefault(key, value)
    saved = dict(os.environ)
    yield
    # What the test found wins; the session stack's variables only fill what it did not have (a package
    # fixture's own endpoints, set before the test, must come back even if the session stack started since).
    restored = {**_SESSION_ENV, **saved}
    if os.environ != restored:
        os.environ.clear()
        os.environ.update(restored)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """Start Firestore, Pub/Sub, moto, GCS (and the Personalize engine when present) once per session."""
    from infra.local.stack import LocalStack, StackError

    state_dir = tmp_path_factory.mktemp("stack")
    local = LocalStack(state_dir)
    try:
        env = local.up()
    except StackError as exc:
        pytest.fail(f"local stack failed to start: {exc}", pytrace=False)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _SESSION_ENV.update(env)
    try:
        yield StackHandle(env, state_dir)
    finally:
        _SESSION_ENV.clear()
        local.down()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def settings(stack: StackHandle) -> Settings:
    """Settings as a deployed function would read them, pointed at fresh per-test buckets."""
    suffix = uuid.uuid4().hex[:10]
    return Settings.from_env(
        {
            **stack.env,
            "STORYREC_IMPORT_BUCKET": f"import-{suffix}",
            "STORYREC_BACKUP_BUCKET": f"backup-{suffix}",
        }
    )


def reset_firestore(host: str, project: str) -> None:
    """Delete every document in the emulator's default database."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.fixture
def firestore_client(stack: StackHandle, settings: Settings) -> Any:
    """A Firestore client on the emulator, with the database emptied first."""
    from shared.wiring import firestore_client as make_client

    reset_firestore(stack.firestore_host, stack.project)
    return make_client(settings)


@pytest.fixture
def doc_store(firestore_client: Any) -> Any:
    from shared.adapters.firestore import FirestoreDocumentStore

    return FirestoreDocumentStore(firestore_client)


@pytest.fixture
def s3_store(settings: Settings) -> Any:
    """A fresh, empty S3 bucket on moto (the settings' import bucket)."""
    from shared import wiring

    store = wiring.import_store(settings)
    wiring.aws_client("s3", settings).create_bucket(Bucket=settings.import_bucket)
    return store


@pytest.fixture
def gcs_store(settings: Settings) -> Any:
    """A fresh, empty GCS bucket on the emulator (the settings' backup bucket)."""
    from shared import wiring

    wiring.storage_client(settings).create_bucket(settings.backup_bucket)
    return wiring.backup_store(settings)


@dataclass
class TopicProbe:
    """An SNS topic with an SQS queue subscribed, to read back what was published."""

    topic_arn: str
    queue_url: str
    sqs: Any

    def messages(self, expect: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Drain the queue until ``expect`` SNS envelopes arrived or ``timeout`` passed."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for msg in resp.get("Messages", []):
                out.append(json.loads(msg["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
        return out


@pytest.fixture
def sns_topic(settings: Settings) -> TopicProbe:
    """A fresh SNS topic on moto with an SQS queue subscribed."""
    from shared import wiring

    name = f"alerts-{uuid.uuid4().hex[:10]}"
    sns = wiring.aws_client("sns", settings)
    sqs = wiring.aws_client("sqs", settings)
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return TopicProbe(topic_arn, queue_url, sqs)


@pytest.fixture(scope="session")
def deskdrop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Deskdrop dataset beside the repo, or generated data in its format when it is absent (a public clone)."""
    return deskdrop_or_generated(tmp_path_factory.mktemp("deskdrop-like"))


@pytest.fixture(scope="session")
def deskdrop_is_real(deskdrop_dir: Path) -> bool:
    """Whether ``deskdrop_dir`` is the real dataset (a test's thresholds may be set on it)."""
    return deskdrop_dir == DESKDROP
