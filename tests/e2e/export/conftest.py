"""Export e2e fixtures: firebase-tools running Firestore, Pub/Sub and Functions emulators over functions_gcp,
with the function's S3/SNS/CloudWatch on the session stack's moto and its GCS on the stack's emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local.firebase import emulators
from tests.conftest import StackHandle

ROWS_PER_RUN = 40  # small, so a 150-click day is fanned out as shards
TOPIC = "storyrec-export"  # the default: firebase-tools discovers triggers without our process env


@dataclass(frozen=True)
class ExportSuite:
    """The running suite: emulator hosts, the buckets the function writes to, and its log."""

    firestore_host: str
    pubsub_host: str
    import_bucket: str
    backup_bucket: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def _suite(
    work: Path, tools_env: Mapping[str, str], function_env: Mapping[str, str]
) -> Iterator[tuple[str, str, Path]]:
    """The shared Firebase suite with Pub/Sub; the function's settings reach it through the suite's environment."""

    with emulators.firebase_suite(work, {**tools_env, **function_env}, 1, 180.0, pubsub=True) as suite:
        assert suite.pubsub_host is not None
        suite.wait_for_function("export_daily", "pubsub")
        yield suite.firestore_host, suite.pubsub_host, suite.log


# package scope: the suite stops before the next package starts its own (two firebase-tools suites at
# once met on the Python functions' admin port 8081 in a CI run: "Port 8081 is in use by another program")
@pytest.fixture(scope="package")
def export_suite(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportSuite]:
    """The Functions emulator serving the real export function, subscribed to TOPIC."""
    from shared import wiring
    from shared.config import Settings

    import_bucket, backup_bucket = "e2e-export-import", "e2e-export-backup"
    settings = Settings.from_env(
        {**stack.env, "STORYREC_IMPORT_BUCKET": import_bucket, "STORYREC_BACKUP_BUCKET": backup_bucket}
    )
    wiring.aws_client("s3", settings).create_bucket(Bucket=import_bucket)
    wiring.storage_client(settings).create_bucket(backup_bucket)
    passthrough = {k: v for k, v in stack.env.items() if k.startswith("AWS_") or k == "STORAGE_EMULATOR_HOST"}
    function_env = {
        **passthrough,
        "STORYREC_IMPORT_BUCKET": import_bucket,
        "STORYREC_BACKUP_BUCKET": backup_bucket,
        "STORYREC_EXPORT_TOPIC": TOPIC,
        "STORYREC_EXPORT_ROWS_PER_RUN": str(ROWS_PER_RUN),
        "STORYREC_TIME_ZONE": "UTC",
    }
    try:
        tools_env = emulators.setup()
        emulators.bundle()
        with _suite(tmp_path_factory.mktemp("export-suite"), tools_env, function_env) as (fs, ps, log):
            yield ExportSuite(fs, ps, import_bucket, backup_bucket, log)
    except emulators.EmulatorError as exc:
        pytest.fail(f"Firebase emulator suite unavailable: {exc}", pytrace=False)
